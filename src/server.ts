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
import type { Backend } from './core/backend.js';
import { BackendRegistry } from './core/backends.js';
import { onnxruntimeBackend } from './runtime/onnx-backend.js';
import type { ModelControlMode } from './core/model-control.js';
import { buildHttpApp, DEFAULT_BODY_LIMIT } from './http/app.js';
import { startGrpcServer } from './grpc/server.js';
import { invalidArgument } from './core/errors.js';
import type { RestrictedApi } from './serving/access.js';
import { defaultAllowedHosts } from './http/origin-guard.js';
import type { HttpLimits } from './http/limits.js';
import type { RegistryApi } from './serving/registry-api.js';
import { RegistrySync, openRegistry } from './serving/registry-sync.js';
import { ServingMetrics } from './monitor/metrics.js';
import { AccessLog } from './monitor/access-log.js';
import { Tracing } from './monitor/tracing.js';
import type { TracingOptions } from './monitor/tracing.js';
import { startMonitoring } from './monitor/monitoring.js';
import type { Monitoring, MonitoringOptions } from './monitor/monitoring.js';
import { MetricsHistory } from './monitor/history.js';
import type { HistoryOptions } from './monitor/history.js';

export interface ServeOptions {
  /** .onnx files, model directories or model repositories */
  paths: string[];
  host?: string;
  /** 0 picks a free port */
  port?: number;
  /** defaults applied to every model (config.json wins) */
  defaults?: Partial<ModelConfig>;
  bodyLimit?: number;
  /** largest JSON answer, bytes (default 64 MiB) */
  responseLimit?: number;
  /** HTTP in-flight budget, slow-client timeouts, connection cap (http/limits.ts; defaults there) */
  httpLimits?: Partial<Omit<HttpLimits, 'bodyLimit'>>;
  /** a pino logger; default: silent */
  logger?: Logger;
  /** gRPC port; 0 = any free port; undefined or null = no gRPC front end */
  grpcPort?: number | null;
  /** largest gRPC message, bytes (default: the HTTP body limit) */
  grpcMaxMessageBytes?: number;
  /** Triton's model control modes; default none */
  modelControl?: { mode: ModelControlMode; startupModels?: string[]; pollSecs?: number };
  /**
   * Serve from the registry (`serve --registry`): every model with a production alias, its
   * canary and shadow, following catalog changes; also enables the admin API (/api/v1, /docs).
   * `instance` uses an already open registry (tests) instead of opening HOME / the catalog URL.
   */
  registry?: { home?: string; catalogUrl?: string; pollSecs?: number; instance?: RegistryApi };
  /** inference and metadata endpoints need an API key (the admin API always does) */
  requireAuth?: boolean;
  /**
   * Host allow-list, cross-origin writes, restricted APIs (http/auth.ts, grpc/auth.ts).
   * allowedHosts default: loopback names and IP addresses when listening on loopback, any
   * host otherwise; ['*'] = any.
   */
  access?: { allowedHosts?: string[]; allowedOrigins?: string[]; restricted?: RestrictedApi[] };
  /** shadow copies in flight per model before more are skipped (default 128) */
  maxShadowInFlight?: number;
  /** Prometheus metrics at GET /metrics (default true) */
  metrics?: boolean;
  /** one log line per inference request (default on, every success logged; failures always are); false = none */
  accessLog?: false | { sampleRate?: number; maxLinesPerSec?: number };
  /** OpenTelemetry traces: default from the OTEL_* variables (off unless they ask); false = off */
  tracing?: false | TracingOptions;
  /** prediction capture, drift, accuracy from feedback, alert rules (monitor/monitoring.ts); off when absent */
  monitoring?: Omit<MonitoringOptions, 'registry' | 'log'>;
  /** the web dashboard at / (default true); its data endpoints under /api/v1 stay on either way */
  dashboard?: boolean;
  /** the samples behind GET /api/v1/metrics/history (default every 5 s, 15 minutes kept; needs metrics) */
  history?: HistoryOptions;
  /** backends beside onnxruntime, chosen per model by its config's `backend` (core/backend.ts) */
  backends?: readonly Backend[];
}

export interface RunningServer {
  url: string;
  port: number;
  /** the gRPC port, when the gRPC front end is on */
  grpcPort?: number;
  service: InferenceService;
  control: ModelControl;
  http: FastifyInstance;
  /** the registry, with `registry` */
  registry?: RegistryApi;
  /** the registry follower, with `registry` */
  sync?: RegistrySync;
  /** the Prometheus metrics, unless turned off */
  metrics?: ServingMetrics;
  /** the tracer, when tracing is on */
  tracing?: Tracing;
  /** capture, drift, feedback and alerts, with `monitoring` */
  monitoring?: Monitoring;
  /** the last 15 minutes of serving figures (GET /api/v1/metrics/history), unless metrics are off */
  history?: MetricsHistory;
  /** graceful: readiness false, finish in-flight requests, stop workers, close sockets */
  close(): Promise<void>;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: 'silent' });
  if (options.requireAuth && !options.registry) throw invalidArgument('--require-auth needs --registry: API keys live in the registry');
  const backends = new BackendRegistry([onnxruntimeBackend, ...(options.backends ?? [])]);
  const service = new InferenceService({ defaults: options.defaults, log: logger, maxShadowInFlight: options.maxShadowInFlight, backends });
  const metrics = options.metrics === false ? undefined : new ServingMetrics(service);
  const tracing = options.tracing === false ? undefined : Tracing.fromEnv(process.env, { log: logger, ...options.tracing });
  if (metrics) service.addObserver(metrics);
  if (tracing) service.addObserver(tracing);
  if (options.accessLog !== false) service.addObserver(new AccessLog(logger, { sampleRate: options.accessLog?.sampleRate, maxLinesPerSec: options.accessLog?.maxLinesPerSec, traceId: tracing?.currentTraceId }));
  const monitoring = options.monitoring ? await startMonitoring(service, { ...options.monitoring, registry: metrics?.registry, log: logger }) : undefined;
  const control = new ModelControl(service, options.paths, { ...(options.modelControl ?? { mode: 'none' }), log: logger });
  await control.start();
  const registry = options.registry ? options.registry.instance ?? await openRegistry(options.registry) : undefined;
  const ownsRegistry = registry !== undefined && options.registry?.instance === undefined;
  let sync: RegistrySync | undefined;
  try {
    if (registry) {
      sync = new RegistrySync(service, registry, { pollSecs: options.registry?.pollSecs, log: logger });
      await sync.start();
    }
  } catch (err) {
    await sync?.stop();
    if (ownsRegistry) registry!.close();
    await service.close();
    await monitoring?.close();
    throw err;
  }
  const history = metrics ? new MetricsHistory(metrics.registry, () => service.versionStatuses(), options.history) : undefined;
  history?.start();
  const http = buildHttpApp(service, {
    bodyLimit: options.bodyLimit,
    responseLimit: options.responseLimit,
    limits: options.httpLimits,
    logger,
    auth: registry ? { registry, requireAuth: options.requireAuth } : undefined,
    access: { ...options.access, allowedHosts: options.access?.allowedHosts ?? defaultAllowedHosts(options.host) },
    admin: registry ? { registry, sync } : undefined,
    metrics,
    tracing,
    monitoring: monitoring?.routes,
    dashboard: { web: options.dashboard !== false, history },
  }, control);
  await http.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8000 });
  const grpcWanted = options.grpcPort !== undefined && options.grpcPort !== null;
  const controlGuarded = registry !== undefined || (options.access?.restricted ?? []).some((r) => r.categories.includes('model-repository'));
  if (options.modelControl?.mode === 'explicit' && !controlGuarded && defaultAllowedHosts(options.host) === undefined) {
    logger.warn({ host: options.host }, 'model load/unload is open to anyone who can reach this server: consider --restricted-api model-repository:HEADER=@FILE');
  }
  const grpc = !grpcWanted
    ? undefined
    : await startGrpcServer({
        service,
        control,
        host: options.host ?? '127.0.0.1',
        port: options.grpcPort!,
        maxMessageBytes: options.grpcMaxMessageBytes ?? options.bodyLimit ?? DEFAULT_BODY_LIMIT,
        logger,
        tracing,
        access: { keys: registry ? { registry, requireAuth: options.requireAuth } : undefined, restricted: options.access?.restricted },
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
    registry,
    sync,
    metrics,
    tracing,
    monitoring,
    history,
    close() {
      closing ??= (async () => {
        history?.stop();
        await control.stop();
        await sync?.stop();
        await service.drain();
        await Promise.all([http.close(), grpc?.close()]);
        await monitoring?.close();
        if (ownsRegistry) await registry!.close();
        await tracing?.shutdown();
      })();
      return closing;
    },
  };
}
