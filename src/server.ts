/**
 * Starts berth's serving stack: discover models, load and warm them, open the HTTP front end.
 * Used by `berth serve`, by tests and by benchmarks alike.
 */
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Logger } from 'pino';
import { InferenceService } from './core/inference-service.js';
import type { ModelConfig } from './core/model-config.js';
import { ModelControl } from './core/model-control.js';
import type { ModelControlMode } from './core/model-control.js';
import { buildHttpApp, DEFAULT_BODY_LIMIT } from './http/app.js';
import { startGrpcServer } from './grpc/server.js';

export interface ServeOptions {
  /** .onnx files, model directories or model repositories */
  paths: string[];
  host?: string;
  /** 0 picks a free port */
  port?: number;
  /** defaults applied to every model (config.json wins) */
  defaults?: Partial<ModelConfig>;
  bodyLimit?: number;
  /** a pino logger; default: silent */
  logger?: Logger;
  /** gRPC port; 0 = any free port; undefined or null = no gRPC front end */
  grpcPort?: number | null;
  /** largest gRPC message, bytes (default: the HTTP body limit) */
  grpcMaxMessageBytes?: number;
  /** Triton's model control modes; default none */
  modelControl?: { mode: ModelControlMode; startupModels?: string[]; pollSecs?: number };
}

export interface RunningServer {
  url: string;
  port: number;
  /** the gRPC port, when the gRPC front end is on */
  grpcPort?: number;
  service: InferenceService;
  control: ModelControl;
  http: FastifyInstance;
  /** graceful: readiness false, finish in-flight requests, stop workers, close sockets */
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const service = new InferenceService({ defaults: options.defaults, log: logger });
  const control = new ModelControl(service, options.paths, { ...(options.modelControl ?? { mode: 'none' }), log: logger });
  await control.start();
  const http = buildHttpApp(service, { bodyLimit: options.bodyLimit, logger }, control);
  await http.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8000 });
  const grpc = options.grpcPort === undefined || options.grpcPort === null
    ? undefined
    : await startGrpcServer({
        service,
        control,
        host: options.host ?? '127.0.0.1',
        port: options.grpcPort,
        maxMessageBytes: options.grpcMaxMessageBytes ?? options.bodyLimit ?? DEFAULT_BODY_LIMIT,
        logger,
      });
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port ?? 8000;
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    grpcPort: grpc?.port,
    service,
    control,
    http,
    close() {
      closing ??= (async () => {
        await control.stop();
        await service.drain();
        await Promise.all([http.close(), grpc?.close()]);
      })();
      return closing;
    },
  };
}
