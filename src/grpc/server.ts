/**
 * The gRPC front end (@grpc/grpc-js): service `inference.GRPCInferenceService` of the Open
 * Inference Protocol with Triton's extensions, wire-compatible with tritonclient.grpc and
 * perf_analyzer, plus the standard `grpc.health.v1.Health/Check` (health.ts). Like the HTTP
 * front end it only decodes, calls the InferenceService (and ModelControl), and encodes;
 * errors become gRPC statuses in status.ts only.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BerthError, unavailable } from '../core/errors.js';
import type { InferenceService } from '../core/inference-service.js';
import { EXTENSIONS, SERVER_NAME, SERVER_VERSION } from '../core/inference-service.js';
import type { ModelControl } from '../core/model-control.js';
import type { WireInferRequest, WireInferResponse } from './codec.js';
import { decodeInferRequest, encodeInferResponse } from './codec.js';
import { healthHandlers, healthService } from './health.js';
import { inferenceService } from './proto.js';
import { toServiceError } from './status.js';
import { CallSignal } from './call-signal.js';
import { guardService } from './auth.js';
import type { GrpcAccessOptions } from './auth.js';
import type { RpcSpan, Tracing } from '../monitor/tracing.js';
import { indexMessage, metadataMessage, statisticsMessage } from './views.js';
import type { GRPCInferenceServiceHandlers } from './generated/inference/GRPCInferenceService.js';
import type { ModelConfig } from './generated/inference/ModelConfig.js';
import type { ModelRepositoryParameter__Output } from './generated/inference/ModelRepositoryParameter.js';
import type { ModelStreamInferResponse } from './generated/inference/ModelStreamInferResponse.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../config/defaults.js';
import { REQUEST_ID_HEADER, requestIdOf } from '../core/request-id.js';

/** Default send and receive limit: the HTTP body limit's default, 64 MiB (Triton's too). */
export const DEFAULT_MAX_MESSAGE_BYTES = DEFAULT_BODY_LIMIT_BYTES;
/** How long close() waits for calls in progress before cutting connections. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

export interface GrpcServerOptions {
  service: InferenceService;
  /** model control for the Repository* RPCs; without it they answer UNAVAILABLE */
  control?: ModelControl;
  host: string;
  /** 0 picks a free port */
  port: number;
  /** largest message received or sent, bytes (default 64 MiB) */
  maxMessageBytes?: number;
  /** close(): grace period before in-progress calls are cut (default 10 s) */
  shutdownTimeoutMs?: number;
  logger?: Logger;
  /** OpenTelemetry: a server span per call, continuing the client's `traceparent` metadata */
  tracing?: Tracing;
  /** API keys and restricted APIs (grpc/auth.ts), the same rules as REST */
  access?: GrpcAccessOptions;
}

export interface RunningGrpcServer {
  port: number;
  /** graceful: refuse new calls, let calls in progress finish, force-close after the timeout */
  close(): Promise<void>;
}

type StreamResponse = ModelStreamInferResponse;
type LoadParameters = Record<string, ModelRepositoryParameter__Output>;

/** grpc-js metadata as the header object the W3C propagator reads (first value of each key). */
function metadataHeaders(metadata: grpc.Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) headers[key] = typeof value === 'string' ? value : value.toString('utf8');
  return headers;
}

/** Empty strings mean "unspecified" in proto3. */
const opt = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);

/** The `config` parameter of RepositoryModelLoad: a model configuration as JSON text. */
function configOverride(params: LoadParameters | undefined): unknown {
  if (!params) return undefined;
  for (const key of Object.keys(params)) {
    if (key.startsWith('file:')) {
      throw new BerthError('UNSUPPORTED', `load parameter '${key}': loading model files sent with the request is not supported; put them in the repository`);
    }
  }
  const p = params.config;
  if (!p) return undefined;
  const text = p.string_param ?? (p.bytes_param ? p.bytes_param.toString('utf8') : undefined);
  if (text === undefined) throw new BerthError('INVALID_ARGUMENT', 'parameters.config must be a JSON string');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `parameters.config is not valid JSON: ${(err as Error).message}`);
  }
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<RunningGrpcServer> {
  const { service, control, logger } = opts;
  const maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  });

  /** Errors the client caused are its business; anything else is worth a log line. */
  const report = (rpc: string, err: unknown) => {
    const e = toServiceError(err);
    if (e.code === grpc.status.INTERNAL) logger?.error({ err, rpc }, `gRPC ${rpc} failed: ${e.details}`);
    return e;
  };

  /**
   * With tracing on: the call's server span, continuing the client's traceparent; the answer's
   * initial metadata names it (sent before any message, as the client reads it first).
   */
  function startSpan(rpc: string, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>, requestId?: string): RpcSpan | undefined {
    const span = opts.tracing?.startRpcSpan(`/inference.GRPCInferenceService/${rpc}`, metadataHeaders(call.metadata));
    if (span || requestId !== undefined) {
      const answer = new grpc.Metadata();
      if (span) answer.set('traceparent', span.traceparent);
      if (requestId !== undefined) answer.set(REQUEST_ID_HEADER, requestId);
      call.sendMetadata(answer);
    }
    return span;
  }

  /** ModelInfer's x-request-id metadata (core/request-id.ts), checked; the error when it is refused. */
  function metadataRequestId(call: grpc.ServerUnaryCall<unknown, unknown>): { id?: string; error?: unknown } {
    try {
      return { id: requestIdOf(call.metadata.get(REQUEST_ID_HEADER).map((v) => (typeof v === 'string' ? v : v.toString('latin1')))) };
    } catch (error) {
      return { error };
    }
  }

  /** A unary handler around a plain (possibly async) function of the request. */
  function unary<Req, Res>(rpc: string, fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>, requestId?: string) => Res | Promise<Res>, options: { requestId?: boolean } = {}): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      // inference calls carry the client's or balancer's x-request-id: echoed in the headers and trailers
      const rid = options.requestId ? metadataRequestId(call) : {};
      const span = startSpan(rpc, call, rid.id);
      const fail = (err: unknown): void => {
        const e = report(rpc, err);
        if (rid.id !== undefined) {
          e.metadata ??= new grpc.Metadata();
          e.metadata.set(REQUEST_ID_HEADER, rid.id);
        }
        if (span) {
          // a client that failed reads the trailers (its error's metadata), not the headers
          e.metadata ??= new grpc.Metadata();
          e.metadata.set('traceparent', span.traceparent);
          span.end(e.code ?? grpc.status.UNKNOWN, e.details);
        }
        callback(e);
      };
      if (rid.error !== undefined) {
        fail(rid.error);
        return;
      }
      let result: Res | Promise<Res>;
      try {
        result = span ? span.run(() => fn(call.request, call, rid.id)) : fn(call.request, call, rid.id);
      } catch (err) {
        fail(err);
        return;
      }
      Promise.resolve(result).then(
        (res) => {
          span?.end(grpc.status.OK);
          callback(null, res);
        },
        fail,
      );
    };
  }

  /** One inference, cancelled in the core (dequeued) if the client goes away first. */
  async function infer(request: WireInferRequest, signal: CallSignal, requestId?: string): Promise<WireInferResponse> {
    const inferRequest = decodeInferRequest(request);
    inferRequest.signal = signal;
    inferRequest.requestId = requestId;
    return encodeInferResponse(await service.infer(inferRequest));
  }

  const modelInfer = unary<WireInferRequest, WireInferResponse>('ModelInfer', (request, call, requestId) => {
    const signal = new CallSignal();
    let settled = false;
    // grpc-js emits 'cancelled' whenever the call's stream closes, after a normal answer too:
    // only a call still in progress is aborted.
    call.once('cancelled', () => {
      if (!settled) signal.abort();
    });
    return infer(request, signal, requestId).finally(() => {
      settled = true;
    });
  }, { requestId: true });

  /**
   * ModelStreamInfer: requests are served concurrently (so the batcher can group them), and
   * answered in the order they arrived. A failed request answers with error_message (and its
   * id) and the stream carries on; the stream ends once the client has ended its side and
   * every answer is written.
   */
  const modelStreamInfer: grpc.handleBidiStreamingCall<WireInferRequest, StreamResponse> = (call) => {
    const inFlight = new Set<CallSignal>();
    let tail: Promise<void> = Promise.resolve();
    // one span for the stream, one inside it per request
    const streamSpan = startSpan('ModelStreamInfer', call);
    let streamOpen = true;
    const endStream = (code: number, message?: string): void => {
      if (streamOpen) streamSpan?.end(code, message);
      streamOpen = false;
    };
    call.once('cancelled', () => {
      for (const c of inFlight) c.abort();
      // grpc-js also says 'cancelled' once a finished stream closes: only an open one was cut
      endStream(grpc.status.CANCELLED, 'cancelled by the client');
    });
    call.on('data', (request: WireInferRequest) => {
      const signal = new CallSignal();
      inFlight.add(signal);
      const span = streamSpan?.child(`infer ${request.model_name ?? ''}`);
      const run = (): Promise<WireInferResponse> => infer(request, signal);
      const answer: Promise<StreamResponse> = (span ? span.run(run) : run()).then(
        (response) => {
          span?.end(grpc.status.OK);
          return { error_message: '', infer_response: response };
        },
        (err: unknown) => {
          const e = report('ModelStreamInfer', err);
          span?.end(e.code ?? grpc.status.UNKNOWN, e.details);
          return {
            error_message: e.details,
            infer_response: { id: request.id ?? '', model_name: request.model_name ?? '', model_version: request.model_version ?? '' },
          };
        },
      ).finally(() => inFlight.delete(signal));
      tail = tail.then(async () => {
        const message = await answer;
        if (!call.cancelled && !call.destroyed) call.write(message);
      });
    });
    call.once('end', () => {
      void tail.then(() => {
        endStream(grpc.status.OK);
        if (!call.cancelled && !call.destroyed) call.end();
      });
    });
    call.on('error', (err) => logger?.debug({ err }, 'gRPC ModelStreamInfer stream error'));
  };

  const handlers: GRPCInferenceServiceHandlers = {
    ServerLive: unary('ServerLive', () => ({ live: true })),
    ServerReady: unary('ServerReady', () => ({ ready: service.isReady() })),
    // As Triton: a model or version that does not exist is simply not ready (status OK).
    ModelReady: unary('ModelReady', (r) => {
      try {
        return { ready: service.modelStatus(r.name ?? '', opt(r.version)).ready };
      } catch (err) {
        if (err instanceof BerthError && err.code === 'NOT_FOUND') return { ready: false };
        throw err;
      }
    }),
    ServerMetadata: unary('ServerMetadata', () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS })),
    ModelMetadata: unary('ModelMetadata', (r) => metadataMessage(service.modelMetadata(r.name ?? '', opt(r.version)))),
    ModelInfer: modelInfer,
    ModelStreamInfer: modelStreamInfer,
    // the core's configuration view is Triton's JSON, whose field names are the message's
    ModelConfig: unary('ModelConfig', (r) => ({ config: service.modelConfigView(r.name ?? '', opt(r.version)) as ModelConfig })),
    ModelStatistics: unary('ModelStatistics', (r) => ({
      model_stats: service.statistics(opt(r.name), opt(r.name) === undefined ? undefined : opt(r.version)).model_stats.map(statisticsMessage),
    })),
    RepositoryIndex: unary('RepositoryIndex', (r) => {
      const entries = control ? control.index() : service.versionStatuses();
      return { models: (r.ready ? entries.filter((e) => e.state === 'READY') : entries).map(indexMessage) };
    }),
    RepositoryModelLoad: unary('RepositoryModelLoad', async (r) => {
      if (!control) throw unavailable('this server has no model repository');
      await control.load(r.model_name ?? '', configOverride(r.parameters));
      return {};
    }),
    RepositoryModelUnload: unary('RepositoryModelUnload', async (r) => {
      if (!control) throw unavailable('this server has no model repository');
      // unload_dependents has no meaning without ensembles
      await control.unload(r.model_name ?? '');
      return {};
    }),
  };
  server.addService(inferenceService(), guardService(inferenceService(), handlers, '', opts.access ?? {}, logger));
  server.addService(healthService(), guardService(healthService(), healthHandlers(service), 'grpc.health.v1.Health/', opts.access ?? {}, logger));

  const address = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  logger?.info({ port, maxMessageBytes: maxBytes }, `gRPC listening on ${opts.host}:${port}`);

  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger?.warn({}, 'gRPC calls still open after the shutdown timeout; closing their connections');
          server.forceShutdown();
          resolve();
        }, opts.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return closing;
    },
  };
}
