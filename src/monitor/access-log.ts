/**
 * Access logs: one pino JSON line per inference request that reached the serving core, whatever
 * front end carried it (REST, V1, gRPC). The line has the request id, model, version,
 * protocol, status and durations; never tensors, headers or credentials (the server's logger
 * also redacts the Authorization and x-api-key headers wherever they appear: http/auth.ts).
 *
 * Successful requests are sampled (`sampleRate`, 0..1); failures are always logged. Levels:
 * success and client errors at info, UNAVAILABLE (503 / gRPC 14: overload, not ready,
 * draining) at warn, internal errors at error, so `--log-level warn` keeps only trouble.
 */
import pino from 'pino';
import type { Logger } from 'pino';
import type { ErrorCode } from '../core/errors.js';
import type { InferenceObserver, RequestRecord } from '../core/observer.js';
import { HTTP_STATUS } from '../http/errors.js';
import { GRPC_STATUS } from '../grpc/status.js';

export interface AccessLogOptions {
  /** share of successful requests logged, 0..1 (default 1: all); failures are always logged */
  sampleRate?: number;
  /** the current trace id, when tracing is on (added as trace_id) */
  traceId?: () => string | undefined;
  /** random source for sampling (tests) */
  random?: () => number;
}

/** The fields of one access line (besides pino's level, time, pid, hostname and msg). */
export interface AccessLine {
  request_id: string;
  model: string;
  version: string;
  protocol: string;
  outcome: 'success' | 'failure';
  /** OK or the core's error code */
  code: string;
  /** the status the client saw: HTTP status for rest/v1, gRPC status code for grpc */
  status: number;
  rows: number;
  duration_ms: number;
  queue_ms: number;
  compute_ms: number;
  error?: string;
  trace_id?: string;
}

const MAX_ERROR_CHARS = 300;
/** Characters a JSON string cannot hold as they are (lone surrogates included, as JSON.stringify escapes them). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** A JSON string literal; JSON.stringify only when needed (it costs ~60 ns a call, the test ~10). */
const quote = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);
const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;

function statusOf(protocol: string, code: ErrorCode | undefined): number {
  if (protocol === 'grpc') return code === undefined ? 0 : GRPC_STATUS[code];
  return code === undefined ? 200 : HTTP_STATUS[code];
}

function levelOf(code: ErrorCode | undefined): 'info' | 'warn' | 'error' {
  if (code === undefined) return 'info';
  if (code === 'INTERNAL') return 'error';
  if (code === 'UNAVAILABLE') return 'warn';
  return 'info';
}

/** A pino logger's internals that the fast path reads (pino.symbols is pino's public API for them). */
interface PinoInternals {
  stream: { write(s: string): unknown; [key: symbol]: unknown };
  chindings: string;
  time: () => string;
  /** as a JSON string literal */
  messageKey: string;
}

/** pino's own default formatters (shared by every logger that does not set its own). */
const DEFAULT_FORMATTERS = (pino({}, { write: () => undefined }) as unknown as Record<symbol, Record<string, unknown>>)[(pino.symbols as unknown as Record<string, symbol>).formattersSym!] ?? {};

/**
 * What a line needs when it can be written without pino's generic serialiser: the logger uses
 * pino's default line layout (no level/log formatters, mixin, message prefix or nested key)
 * and a plain destination stream. Otherwise undefined, and lines go through logger[level]().
 */
function fastPath(logger: Logger): PinoInternals | undefined {
  const l = logger as unknown as Record<symbol, unknown>;
  const s = pino.symbols as unknown as Record<string, symbol>;
  const formatters = (l[s.formattersSym!] ?? {}) as Record<string, unknown>;
  const hooks = (l[s.hooksSym!] ?? {}) as Record<string, unknown>;
  const stream = l[s.streamSym!] as PinoInternals['stream'] | undefined;
  if (formatters.level !== DEFAULT_FORMATTERS.level || formatters.log !== DEFAULT_FORMATTERS.log) return undefined;
  if (hooks.logMethod || hooks.streamWrite || l[s.mixinSym!] || (s.msgPrefixSym && l[s.msgPrefixSym]) || l[s.nestedKeySym!]) return undefined;
  if (!stream || typeof stream.write !== 'function' || stream[s.needsMetadataGsym!]) return undefined;
  const chindings = l[s.chindingsSym!];
  const time = l[s.timeSym!];
  const messageKey = l[s.messageKeySym!];
  if (typeof chindings !== 'string' || typeof time !== 'function' || typeof messageKey !== 'string') return undefined;
  return { stream, chindings, time: () => (time as () => string).call(logger), messageKey: JSON.stringify(messageKey) };
}

/**
 * Collects the lines logged by one callback of the event loop (with the promise reactions it
 * triggers) and hands them to the destination as one write right after it (process.nextTick):
 * the 30 answers of a batch cost one write, not 30, and each write costs the event loop a system
 * call or a thread-pool hand-off. Lines are not held longer: strings that live across turns
 * survive young-generation GCs and get promoted (a 10 ms timer was tried and cost more than it
 * saved). Whatever is pending is written at exit.
 */
class LineBuffer {
  private pending = '';
  private scheduled = false;
  constructor(private readonly stream: PinoInternals['stream']) {
    buffers.add(new WeakRef(this));
  }
  write(line: string): void {
    this.pending += line;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flush);
    }
  }
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending === '') return;
    const out = this.pending;
    this.pending = '';
    this.stream.write(out);
  };
  /** At exit no turn comes again: write, and make an asynchronous destination write too. */
  flushAtExit(): void {
    if (this.pending === '') return;
    this.flush();
    try {
      (this.stream as { flushSync?: () => void }).flushSync?.();
    } catch {
      // a destination that cannot flush synchronously keeps what it has
    }
  }
}

/** Every live buffer, for the exit flush (weakly: a server that is gone takes its buffer along). */
const buffers = new Set<WeakRef<LineBuffer>>();
process.once('exit', () => {
  for (const b of buffers) b.deref()?.flushAtExit();
});

/** The access log observer: `service.addObserver(new AccessLog(logger, { sampleRate }))`. */
export class AccessLog implements InferenceObserver {
  private readonly log: Logger;
  private readonly sampleRate: number;
  private readonly random: () => number;
  private readonly fast?: PinoInternals & { out: LineBuffer };

  constructor(logger: Logger, private readonly options: AccessLogOptions = {}) {
    const rate = options.sampleRate ?? 1;
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`access log sample rate must be between 0 and 1, got ${rate}`);
    this.sampleRate = rate;
    this.random = options.random ?? Math.random;
    this.log = logger;
    const internals = fastPath(logger);
    if (internals) this.fast = { ...internals, out: new LineBuffer(internals.stream) };
  }

  onRequest(record: RequestRecord): void {
    const code = record.outcome === 'success' ? undefined : record.errorCode ?? 'INTERNAL';
    const level = levelOf(code);
    if (!this.log.isLevelEnabled(level)) return;
    if (code === undefined && this.sampleRate < 1 && (this.sampleRate === 0 || this.random() >= this.sampleRate)) return;
    const protocol = record.protocol ?? 'rest';
    const error = code !== undefined && record.errorMessage
      ? (record.errorMessage.length > MAX_ERROR_CHARS ? `${record.errorMessage.slice(0, MAX_ERROR_CHARS)}…` : record.errorMessage)
      : undefined;
    const traceId = this.options.traceId?.();
    const fast = this.fast;
    if (fast) {
      // pino's line layout, serialised here: a fifth of the cost of pino's generic path, which
      // at thousands of requests per second was most of the monitoring overhead (measured).
      let line = `{"level":${this.log.levels.values[level]}${fast.time()}${fast.chindings},"request_id":${quote(record.requestId)},"model":${quote(record.model)},"version":${quote(record.version)},"protocol":${quote(protocol)},"outcome":"${record.outcome}","code":"${code ?? 'OK'}","status":${statusOf(protocol, code)},"rows":${record.rows},"duration_ms":${ms(record.durationNs)},"queue_ms":${ms(record.queueNs)},"compute_ms":${ms(record.computeNs)}`;
      if (error !== undefined) line += `,"error":${quote(error)}`;
      if (traceId) line += `,"trace_id":${quote(traceId)}`;
      fast.out.write(`${line},${fast.messageKey}:"access"}\n`);
      return;
    }
    const line: AccessLine = {
      request_id: record.requestId,
      model: record.model,
      version: record.version,
      protocol,
      outcome: record.outcome,
      code: code ?? 'OK',
      status: statusOf(protocol, code),
      rows: record.rows,
      duration_ms: ms(record.durationNs),
      queue_ms: ms(record.queueNs),
      compute_ms: ms(record.computeNs),
    };
    if (error !== undefined) line.error = error;
    if (traceId) line.trace_id = traceId;
    this.log[level](line, 'access');
  }

  /** Writes the pending lines now. */
  flush(): void {
    this.fast?.out.flush();
  }
}
