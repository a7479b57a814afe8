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
import { indexMessage, metadataMessage, statisticsMessage } from './views.js';

/** Default send and receive limit: 64 MiB, the same as the HTTP body limit (Triton's too). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
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
}

export interface RunningGrpcServer {
  port: number;
  /** graceful: refuse new calls, let calls in progress finish, force-close after the timeout */
  close(): Promise<void>;
}

interface NameVersion {
  name?: string;
  version?: string;
}

interface ModelParameterMessage {
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  bytes_param?: Buffer;
  parameter_choice?: string;
}

interface LoadRequest {
  repository_name?: string;
  model_name?: string;
  parameters?: Record<string, ModelParameterMessage>;
}

type StreamResponse = { error_message: string; infer_response?: Partial<WireInferResponse> };

/** Empty strings mean "unspecified" in proto3. */
const opt = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);

/** The `config` parameter of RepositoryModelLoad: a model configuration as JSON text. */
function configOverride(params: Record<string, ModelParameterMessage> | undefined): unknown {
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

  /** A unary handler around a plain (possibly async) function of the request. */
  function unary<Req, Res>(rpc: string, fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      let result: Res | Promise<Res>;
      try {
        result = fn(call.request, call);
      } catch (err) {
        callback(report(rpc, err));
        return;
      }
      Promise.resolve(result).then(
        (res) => callback(null, res),
        (err: unknown) => callback(report(rpc, err)),
      );
    };
  }

  /** One inference, cancelled in the core (dequeued) if the client goes away first. */
  async function infer(request: WireInferRequest, signal: AbortSignal): Promise<WireInferResponse> {
    const inferRequest = decodeInferRequest(request);
    inferRequest.signal = signal;
    return encodeInferResponse(await service.infer(inferRequest));
  }

  const modelInfer = unary<WireInferRequest, WireInferResponse>('ModelInfer', (request, call) => {
    const controller = new AbortController();
    let settled = false;
    // grpc-js emits 'cancelled' whenever the call's stream closes, after a normal answer too:
    // only a call still in progress is aborted (an abort costs a DOMException per request).
    call.once('cancelled', () => {
      if (!settled) controller.abort();
    });
    return infer(request, controller.signal).finally(() => {
      settled = true;
    });
  });

  /**
   * ModelStreamInfer: requests are served concurrently (so the batcher can group them), and
   * answered in the order they arrived. A failed request answers with error_message (and its
   * id) and the stream carries on; the stream ends once the client has ended its side and
   * every answer is written.
   */
  const modelStreamInfer: grpc.handleBidiStreamingCall<WireInferRequest, StreamResponse> = (call) => {
    const inFlight = new Set<AbortController>();
    let tail: Promise<void> = Promise.resolve();
    call.once('cancelled', () => {
      for (const c of inFlight) c.abort();
    });
    call.on('data', (request: WireInferRequest) => {
      const controller = new AbortController();
      inFlight.add(controller);
      const answer: Promise<StreamResponse> = infer(request, controller.signal).then(
        (response) => ({ error_message: '', infer_response: response }),
        (err: unknown) => ({
          error_message: report('ModelStreamInfer', err).details,
          infer_response: { id: request.id ?? '', model_name: request.model_name ?? '', model_version: request.model_version ?? '' },
        }),
      ).finally(() => inFlight.delete(controller));
      tail = tail.then(async () => {
        const message = await answer;
        if (!call.cancelled && !call.destroyed) call.write(message);
      });
    });
    call.once('end', () => {
      void tail.then(() => {
        if (!call.cancelled && !call.destroyed) call.end();
      });
    });
    call.on('error', (err) => logger?.debug({ err }, 'gRPC ModelStreamInfer stream error'));
  };

  const handlers: grpc.UntypedServiceImplementation = {
    ServerLive: unary('ServerLive', () => ({ live: true })),
    ServerReady: unary('ServerReady', () => ({ ready: service.isReady() })),
    // As Triton: a model or version that does not exist is simply not ready (status OK).
    ModelReady: unary<NameVersion, { ready: boolean }>('ModelReady', (r) => {
      try {
        return { ready: service.modelStatus(r.name ?? '', opt(r.version)).ready };
      } catch (err) {
        if (err instanceof BerthError && err.code === 'NOT_FOUND') return { ready: false };
        throw err;
      }
    }),
    ServerMetadata: unary('ServerMetadata', () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS })),
    ModelMetadata: unary<NameVersion, object>('ModelMetadata', (r) => metadataMessage(service.modelMetadata(r.name ?? '', opt(r.version)))),
    ModelInfer: modelInfer,
    ModelStreamInfer: modelStreamInfer,
    ModelConfig: unary<NameVersion, object>('ModelConfig', (r) => ({ config: service.modelConfigView(r.name ?? '', opt(r.version)) })),
    ModelStatistics: unary<NameVersion, object>('ModelStatistics', (r) => ({
      model_stats: service.statistics(opt(r.name), opt(r.name) === undefined ? undefined : opt(r.version)).model_stats.map(statisticsMessage),
    })),
    RepositoryIndex: unary<{ ready?: boolean }, object>('RepositoryIndex', (r) => {
      const entries = control ? control.index() : service.versionStatuses();
      return { models: (r.ready ? entries.filter((e) => e.state === 'READY') : entries).map(indexMessage) };
    }),
    RepositoryModelLoad: unary<LoadRequest, object>('RepositoryModelLoad', async (r) => {
      if (!control) throw unavailable('this server has no model repository');
      await control.load(r.model_name ?? '', configOverride(r.parameters));
      return {};
    }),
    RepositoryModelUnload: unary<LoadRequest, object>('RepositoryModelUnload', async (r) => {
      if (!control) throw unavailable('this server has no model repository');
      // unload_dependents has no meaning without ensembles
      await control.unload(r.model_name ?? '');
      return {};
    }),
  };
  server.addService(inferenceService(), handlers);
  server.addService(healthService(), healthHandlers(service));

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
