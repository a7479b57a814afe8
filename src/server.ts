/**
 * Starts berth's serving stack: discover models, load and warm them, open the HTTP front end.
 * Used by `berth serve`, by tests, by benchmarks and by library callers alike; all pass a
 * configuration object checked by the one schema (config/schema.ts).
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Logger } from 'pino';
import { InferenceService } from './core/inference-service.js';
import { ModelControl } from './core/model-control.js';
import type { Backend } from './core/backend.js';
import { BackendRegistry } from './core/backends.js';
import { onnxruntimeBackend } from './runtime/onnx-backend.js';
import { buildHttpApp } from './http/app.js';
import { startGrpcServer } from './grpc/server.js';
import { invalidArgument } from './core/errors.js';
import { defaultAllowedHosts } from './http/origin-guard.js';
import type { RegistryApi } from './serving/registry-api.js';
import { RegistrySync, openRegistry } from './serving/registry-sync.js';
import { ServingMetrics } from './monitor/metrics.js';
import { AccessLog } from './monitor/access-log.js';
import { Tracing } from './monitor/tracing.js';
import type { TracingOptions } from './monitor/tracing.js';
import { startMonitoring } from './monitor/monitoring.js';
import type { Monitoring } from './monitor/monitoring.js';
import { MetricsHistory } from './monitor/history.js';
import type { HistoryOptions } from './monitor/history.js';
import { berthHome } from './config/defaults.js';
import { parseConfigObject } from './config/load.js';
import type { BerthConfigFile } from './config/schema.js';

/**
 * What a library caller passes besides the configuration's keys: live objects a config file
 * cannot hold.
 */
export interface ServeRuntime {
  /** a pino logger; default: silent */
  logger?: Logger;
  /** OpenTelemetry traces: default from the OTEL_* variables (off unless they ask); false = off */
  tracing?: false | TracingOptions;
  /** the samples behind GET /api/v1/metrics/history (default every 5 s, 15 minutes kept; needs metrics) */
  history?: HistoryOptions;
  /** backends beside onnxruntime, chosen per model by its config's `backend` (core/backend.ts) */
  backends?: readonly Backend[];
  /** `instance`: an already open registry (tests, embedding) instead of opening HOME / the catalog URL; implies registry.enabled */
  registry?: { instance?: RegistryApi };
}

/**
 * startServer's argument: any part of the configuration (config/schema.ts, docs/configuration.md;
 * parsed with the same schema as `berth serve`'s flags and `--config` file, defaults filled in,
 * BERTH_* environment variables under it) plus the runtime objects.
 */
export type BerthConfigInput = BerthConfigFile & ServeRuntime;
/** The name before the configuration schema. */
export type ServeOptions = BerthConfigInput;

const MiB = 1024 * 1024;
const bytes = (mb: number): number => Math.round(mb * MiB);

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
  /**
   * The drain's first step, on its own: readiness turns false at once (/v2/health/ready,
   * model readiness, gRPC ServerReady/ModelReady and the health service) while inference is
   * still served, every HTTP answer saying `Connection: close`. close() follows.
   */
  beginDrain(): void;
  /**
   * Graceful: readiness false (beginDrain), then after `delayMs` (default 0; endpoint removal
   * propagating to balancers) stop accepting connections, close idle keep-alive connections,
   * finish requests in flight (HTTP and gRPC), stop workers. Calls after the first return the
   * same promise.
   */
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  /** ms to keep serving with readiness withdrawn before stopping (`berth serve --drain-delay`) */
  delayMs?: number;
}

export async function startServer(input: BerthConfigInput = {}): Promise<RunningServer> {
  const { logger: givenLogger, tracing: tracingOptions, history: historyOptions, registry: registryInput, backends: extraBackends, ...rest } = input;
  const { instance, ...registrySection } = registryInput ?? {};
  const config = parseConfigObject({ ...rest, registry: registrySection });
  const logger = givenLogger ?? pino({ level: 'silent' });
  const home = config.home ?? berthHome();
  const registryWanted = config.registry.enabled || instance !== undefined;
  if (config.requireAuth && !registryWanted) throw invalidArgument('--require-auth needs --registry: API keys live in the registry');
  const paths = [...config.paths];
  if (config.example) {
    const { ensureDigitsModel } = await import('./examples/digits/index.js');
    const dir = join(home, 'examples');
    const result = await ensureDigitsModel(dir);
    if (result.built) logger.info({ path: result.modelPath, test_accuracy: result.testAccuracy }, 'trained the digits example');
    paths.push(join(dir, 'digits'));
  }
  const backends = new BackendRegistry([onnxruntimeBackend, ...(extraBackends ?? [])]);
  const service = new InferenceService({ defaults: { ...config.models }, log: logger, maxShadowInFlight: config.maxShadowInFlight, backends });
  const metrics = config.metrics ? new ServingMetrics(service) : undefined;
  const tracing = tracingOptions === false ? undefined : Tracing.fromEnv(process.env, { log: logger, ...tracingOptions });
  if (metrics) service.addObserver(metrics);
  if (tracing) service.addObserver(tracing);
  if (config.accessLog.enabled) service.addObserver(new AccessLog(logger, { sampleRate: config.accessLog.sampleRate, maxLinesPerSec: config.accessLog.maxLinesPerSec, traceId: tracing?.currentTraceId }));
  const { enabled: monitoringWanted, ...monitoringOptions } = config.monitoring;
  const monitoring = monitoringWanted ? await startMonitoring(service, { ...monitoringOptions, home, registry: metrics?.registry, log: logger }) : undefined;
  const control = new ModelControl(service, paths, { mode: config.modelControl.mode, startupModels: [...config.modelControl.startupModels], pollSecs: config.modelControl.pollSecs, log: logger });
  await control.start();
  const registry = registryWanted ? instance ?? await openRegistry({ home, catalogUrl: config.registry.catalogUrl }) : undefined;
  const ownsRegistry = registry !== undefined && instance === undefined;
  let sync: RegistrySync | undefined;
  try {
    if (registry) {
      sync = new RegistrySync(service, registry, { pollSecs: config.registry.pollSecs, log: logger });
      await sync.start();
    }
  } catch (err) {
    await sync?.stop();
    if (ownsRegistry) registry!.close();
    await service.close();
    await monitoring?.close();
    throw err;
  }
  const history = metrics ? new MetricsHistory(metrics.registry, () => service.versionStatuses(), historyOptions) : undefined;
  history?.start();
  const { host, port: wantedPort } = config.http;
  const http = buildHttpApp(service, {
    bodyLimit: bytes(config.http.maxBodyMb),
    responseLimit: bytes(config.http.maxResponseMb),
    limits: {
      maxInflightBytes: config.http.maxInflightMb === undefined ? undefined : bytes(config.http.maxInflightMb),
      headersTimeoutMs: config.http.headersTimeoutSecs * 1000,
      requestTimeoutMs: config.http.requestTimeoutSecs * 1000,
      keepAliveTimeoutMs: config.http.keepAliveTimeoutSecs * 1000,
      maxConnections: config.http.maxConnections,
    },
    logger,
    auth: registry ? { registry, requireAuth: config.requireAuth } : undefined,
    access: { ...config.access, allowedHosts: config.access.allowedHosts ?? defaultAllowedHosts(host) },
    admin: registry ? { registry, sync } : undefined,
    metrics,
    tracing,
    monitoring: monitoring?.routes,
    dashboard: { web: config.dashboard, history },
  }, control);
  await http.listen({ host, port: wantedPort });
  const controlGuarded = registry !== undefined || config.access.restricted.some((r) => r.categories.includes('model-repository'));
  if (config.modelControl.mode === 'explicit' && !controlGuarded && defaultAllowedHosts(host) === undefined) {
    logger.warn({ host }, 'model load/unload is open to anyone who can reach this server: consider --restricted-api model-repository:HEADER=@FILE');
  }
  const grpc = !config.grpc.enabled
    ? undefined
    : await startGrpcServer({
        service,
        control,
        host,
        port: config.grpc.port,
        maxMessageBytes: bytes(config.grpc.maxMessageMb ?? config.http.maxBodyMb),
        // calls in flight at the stop may run as long as the drain timeout allows, as HTTP requests may
        shutdownTimeoutMs: (config.drainTimeoutSecs ?? config.exitTimeoutSecs) * 1000,
        logger,
        tracing,
        access: { keys: registry ? { registry, requireAuth: config.requireAuth } : undefined, restricted: config.access.restricted },
      });
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : wantedPort;
  const urlHost = host !== '0.0.0.0' && host !== '::' ? host : '127.0.0.1';
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${port}`,
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
    beginDrain() {
      service.withdrawReadiness();
    },
    close(options: CloseOptions = {}) {
      closing ??= (async () => {
        service.withdrawReadiness();
        const delayMs = options.delayMs ?? 0;
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        history?.stop();
        await control.stop();
        await sync?.stop();
        // The front ends first: they stop accepting, end idle connections and wait for the
        // requests in flight (the core still serves them, and whatever arrives on a connection
        // in the meantime: fastify answers it 503 + Connection: close, grpc-js has sent GOAWAY);
        // then the core finishes anything left (library callers) and stops its workers.
        await Promise.all([http.close(), grpc?.close()]);
        await service.drain();
        await monitoring?.close();
        if (ownsRegistry) await registry!.close();
        await tracing?.shutdown();
      })();
      return closing;
    },
  };
}
