/**
 * Access logs: one pino JSON line per inference request that reached the serving core, whatever
 * front end carried it (REST, V1, gRPC). The line has the request id, model, version,
 * protocol, status and durations; never tensors, headers or credentials (the server's logger
 * also redacts the Authorization and x-api-key headers wherever they appear: http/auth.ts).
 *
 * Successful requests are sampled: a fixed share (`sampleRate`, 0..1), and above
 * `maxLinesPerSec` (default 1000) a share that adapts each second so that about that many
 * success lines a second are written, each saying `sample_rate`. Failures are always logged.
 * Why a cap by default: a line costs the serving thread about a microsecond however it is
 * written, which at 20 000 small-model requests a second on 2 cores was 3-4% of throughput on
 * its own (bench/monitoring-overhead.ts), for a log nobody reads line by line at that rate; the
 * metrics keep exact counts. Below the cap every request still has its line.
 * Levels: success and client errors at info, OVERLOADED (429 / gRPC 8: shed) and UNAVAILABLE
 * (503 / gRPC 14: not ready, draining) at warn, internal errors at error, so `--log-level warn` keeps only trouble.
 */
import pino from 'pino';
import type { Logger } from 'pino';
import type { ErrorCode } from '../core/errors.js';
import type { InferenceObserver, RequestRecord } from '../core/observer.js';
import { GRPC_STATUS, HTTP_STATUS } from '../core/status-codes.js';
import { cachedQuote, quote } from './json-text.js';
import { DEFAULTS } from '../config/defaults.js';

export interface AccessLogOptions {
  /** share of successful requests logged, 0..1 (default 1: all); failures are always logged */
  sampleRate?: number;
  /**
   * success lines a second beyond which they are sampled, the share adapting each second
   * (default 1000; 0 = no cap); failures are always logged
   */
  maxLinesPerSec?: number;
  /** clock for the per-second cap, ms (tests) */
  now?: () => number;
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
  /** on a sampled success line: the probability it had of being written (it stands for 1/sample_rate requests) */
  sample_rate?: number;
  duration_ms: number;
  queue_ms: number;
  compute_ms: number;
  error?: string;
  trace_id?: string;
}

const MAX_ERROR_CHARS = 300;
const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;

/** ".001" … ".999" with trailing zeros dropped (".1", ".25"), by thousandths. */
const FRACTIONS: readonly string[] = Array.from({ length: 1000 }, (_, i) => (i === 0 ? '' : `.${String(i).padStart(3, '0').replace(/0+$/, '')}`));

/**
 * ms(ns) as JSON text, what String(ms(ns)) gives, without formatting a double (the three of a
 * line took a third of its cost): integer milliseconds and a fraction from a table.
 */
function msText(ns: number): string {
  const us = Math.round(ns / 1e3);
  if (!(us >= 0 && us < Number.MAX_SAFE_INTEGER)) return String(us / 1e3);
  return `${Math.floor(us / 1000)}${FRACTIONS[us % 1000]}`;
}

/**
 * Model names, versions and protocols repeat on every line: their JSON literals are kept
 * (up to a bound, since model names in failed requests come from clients).
 */
const quoteRepeated = cachedQuote();

function statusOf(protocol: string, code: ErrorCode | undefined): number {
  if (protocol === 'grpc') return code === undefined ? 0 : GRPC_STATUS[code];
  return code === undefined ? 200 : HTTP_STATUS[code];
}

function levelOf(code: ErrorCode | undefined): 'info' | 'warn' | 'error' {
  if (code === undefined) return 'info';
  if (code === 'INTERNAL') return 'error';
  if (code === 'UNAVAILABLE' || code === 'OVERLOADED') return 'warn';
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

const INITIAL_BUFFER_BYTES = 64 * 1024;
/** Lines wait at most this long for company before they are written. */
const FLUSH_MS = 10;
/** ... or until this many bytes are waiting. */
const FLUSH_BYTES = 48 * 1024;

/**
 * The access lines, encoded as UTF-8 into one reusable buffer as they come, and handed to the
 * destination as one string every FLUSH_MS (or FLUSH_BYTES): at 20 000 requests a second that
 * is ~100 writes a second instead of one per request or per batch. Each write costs the
 * serving thread more than its bytes: pino's default destination writes through the libuv
 * thread pool, and on a 2-core machine waking a pool thread and being preempted by it showed
 * up as ~2.8 µs a request of a 40 µs request when lines were written once per batch.
 *
 * The lines wait as bytes, not strings: strings that live across event-loop turns survive
 * young-generation GCs and get promoted (which is why lines were once written per callback;
 * a timer over string concatenation cost more than it saved). And a line is encoded while it
 * is a fresh small rope: 30 lines joined into one string made V8 flatten a deep rope when the
 * destination wrote it, 1.2 µs a line, against 0.2 µs for the same text flat (measured).
 * Whatever is pending is written at exit.
 */
class LineBuffer {
  private buf = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES);
  private off = 0;
  private timer?: NodeJS.Timeout;
  constructor(private readonly stream: PinoInternals['stream']) {
    buffers.add(new WeakRef(this));
  }

  /** Adds a line (its newline included). */
  write(line: string): void {
    const room = line.length * 3; // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (this.off + room > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + room));
      this.buf.copy(bigger, 0, 0, this.off);
      this.buf = bigger;
    }
    this.off += this.buf.write(line, this.off, 'utf8');
    if (this.off >= FLUSH_BYTES) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(this.flush, FLUSH_MS);
      this.timer.unref();
    }
  }

  readonly flush = (): void => {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.off === 0) return;
    const out = this.buf.toString('utf8', 0, this.off);
    this.off = 0;
    if (this.buf.length > 16 * INITIAL_BUFFER_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_BUFFER_BYTES); // after a burst of huge lines
    this.stream.write(out);
  };

  /** At exit no turn comes again: write, and make an asynchronous destination write too. */
  flushAtExit(): void {
    if (this.off === 0) return;
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
export const DEFAULT_MAX_LINES_PER_SEC = DEFAULTS.logging.accessLogMaxPerSec;

export class AccessLog implements InferenceObserver {
  private readonly log: Logger;
  private readonly sampleRate: number;
  private readonly maxLinesPerSec: number;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly fast?: PinoInternals & { out: LineBuffer };
  /** the share of successes logged now: sampleRate, lowered while traffic is above the cap */
  private probability: number;
  private secondEnds = 0;
  private seenThisSecond = 0;
  private writtenThisSecond = 0;

  constructor(logger: Logger, private readonly options: AccessLogOptions = {}) {
    const rate = options.sampleRate ?? DEFAULTS.logging.accessLogSample;
    if (!(rate >= 0 && rate <= 1)) throw new RangeError(`access log sample rate must be between 0 and 1, got ${rate}`);
    this.sampleRate = rate;
    this.probability = rate;
    this.maxLinesPerSec = options.maxLinesPerSec ?? DEFAULT_MAX_LINES_PER_SEC;
    if (!(this.maxLinesPerSec >= 0)) throw new RangeError(`access log lines per second must be at least 0, got ${this.maxLinesPerSec}`);
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.log = logger;
    const internals = fastPath(logger);
    if (internals) this.fast = { ...internals, out: new LineBuffer(internals.stream) };
  }

  /** Whether this success gets a line: decided before anything is built. */
  private sampleSuccess(): boolean {
    if (this.maxLinesPerSec > 0) {
      const now = this.now();
      if (now >= this.secondEnds) {
        // last second's traffic sets this second's share (a second with no traffic resets it)
        // (three significant digits: the share is written on every sampled line)
        this.probability = now - this.secondEnds < 1000 ? Math.min(this.sampleRate, Number((this.maxLinesPerSec / Math.max(1, this.seenThisSecond)).toPrecision(3))) : this.sampleRate;
        this.secondEnds = now + 1000;
        this.seenThisSecond = 0;
        this.writtenThisSecond = 0;
      }
      this.seenThisSecond++;
      // and a hard stop for the second in which traffic jumps
      if (this.writtenThisSecond >= 2 * this.maxLinesPerSec) return false;
    }
    if (this.probability < 1 && (this.probability === 0 || this.random() >= this.probability)) return false;
    this.writtenThisSecond++;
    return true;
  }

  onRequest(record: RequestRecord): void {
    const code = record.outcome === 'success' ? undefined : record.errorCode ?? 'INTERNAL';
    const level = levelOf(code);
    if (!this.log.isLevelEnabled(level)) return;
    if (code === undefined && !this.sampleSuccess()) return;
    const sampleRate = code === undefined && this.probability < 1 ? this.probability : undefined;
    const protocol = record.protocol ?? 'rest';
    const error = code !== undefined && record.errorMessage
      ? (record.errorMessage.length > MAX_ERROR_CHARS ? `${record.errorMessage.slice(0, MAX_ERROR_CHARS)}…` : record.errorMessage)
      : undefined;
    const traceId = this.options.traceId?.();
    const fast = this.fast;
    if (fast) {
      // pino's line layout, serialised here: a fifth of the cost of pino's generic path, which
      // at thousands of requests per second was most of the monitoring overhead (measured).
      let line = `{"level":${this.log.levels.values[level]}${fast.time()}${fast.chindings},"request_id":${quote(record.requestId)},"model":${quoteRepeated(record.model)},"version":${quoteRepeated(record.version)},"protocol":${quoteRepeated(protocol)},"outcome":"${record.outcome}","code":"${code ?? 'OK'}","status":${statusOf(protocol, code)},"rows":${record.rows}${sampleRate === undefined ? '' : `,"sample_rate":${sampleRate}`},"duration_ms":${msText(record.durationNs)},"queue_ms":${msText(record.queueNs)},"compute_ms":${msText(record.computeNs)}`;
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
      ...(sampleRate === undefined ? {} : { sample_rate: sampleRate }),
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
