/** `berth serve PATH...`: serve models over the Open Inference Protocol. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { createServerLogger } from '../../http/auth.js';
import { startServer } from '../../server.js';
import type { ModelConfig } from '../../core/model-config.js';
import type { ModelControlMode } from '../../core/model-control.js';
import { CATEGORIES, parseRestrictedApi } from '../../serving/access.js';
import type { RestrictedApi } from '../../serving/access.js';
import { parseAllowedHosts, parseAllowedOrigins } from '../../http/origin-guard.js';

function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got '${value}'`);
    return n;
  };
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  return n;
}

/** A comma-separated list of batch sizes, e.g. `16,32`. */
function batchSizes(value: string): number[] {
  const sizes = value.split(',').map((v) => Number(v.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new InvalidArgumentError(`expected batch sizes ≥ 1 separated by commas, got '${value}'`);
  return sizes;
}

export function berthHome(): string {
  return process.env.BERTH_HOME ?? join(homedir(), '.berth');
}

interface ServeFlags {
  host: string;
  port: number;
  grpcPort: number;
  grpcMaxMessageMb?: number;
  instances?: number;
  maxBatchSize?: number;
  maxQueueDelayUs?: number;
  preferredBatchSize?: number[];
  maxQueue?: number;
  intraOpThreads?: number;
  maxBodyMb: number;
  maxResponseMb: number;
  logLevel: string;
  example?: boolean;
  exitTimeoutSecs: number;
  modelControl: ModelControlMode;
  loadModel: string[];
  repositoryPollSecs: number;
  registry?: boolean;
  home?: string;
  catalog?: string;
  registryPollSecs: number;
  requireAuth?: boolean;
  captureRate: number;
  captureMaxMb: number;
  driftWindow: number;
  driftWindowSecs: number;
  driftReferenceSize: number;
  alerts?: string;
  metrics: boolean;
  accessLog: boolean;
  accessLogSample: number;
  accessLogMaxPerSec: number;
  dashboard: boolean;
  allowedHosts?: string[];
  allowedOrigins?: string[];
  restrictedApi: RestrictedApi[];
  maxInflightMb?: number;
  headersTimeoutSecs: number;
  requestTimeoutSecs: number;
  keepAliveTimeoutSecs: number;
  maxConnections?: number;
}

function share(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`expected a number within 0..1, got '${value}'`);
  return n;
}

function mode(value: string): ModelControlMode {
  if (value === 'none' || value === 'explicit' || value === 'poll') return value;
  throw new InvalidArgumentError(`expected none, explicit or poll, got '${value}'`);
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Turns a parser's Error into commander's usage error. */
function cliParser<T>(parse: (value: string) => T) {
  return (value: string): T => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}
const restrictedApis = (value: string, previous: RestrictedApi[]): RestrictedApi[] => [...previous, cliParser(parseRestrictedApi)(value)];

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve models over the Open Inference Protocol (REST) and the V1 predict API')
    .argument('[paths...]', '.onnx files, model directories (NAME/VERSION/model.onnx) or repositories of them')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'HTTP port (0 = any free port)', integer(0), 8000)
    .option('--grpc-port <port>', 'gRPC port (0 disables gRPC)', integer(0), 8001)
    .option('--grpc-max-message-mb <mb>', 'largest gRPC message, MiB [default: --max-body-mb]', integer(1))
    .option('--instances <n>', 'model instances (worker threads) per model version [default: 1]', integer(1))
    .option('--max-batch-size <n>', 'largest dynamic batch, rows; 0 disables batching [default: 32]', integer(0))
    .option('--max-queue-delay-us <us>', 'longest wait for a fuller batch, microseconds [default: 1000]', integer(0))
    .option('--preferred-batch-size <sizes>', 'batch sizes that go without waiting for the delay, e.g. 32 [default: every size from half of --max-batch-size up]', batchSizes)
    .option('--max-queue <n>', 'queued requests per model version before 503; 0 = unbounded [default: 1024]', integer(0))
    .option('--intra-op-threads <n>', 'onnxruntime threads per instance [default: onnxruntime decides]', integer(1))
    .option('--max-body-mb <mb>', 'largest request body, MiB', integer(1), 64)
    .option('--max-response-mb <mb>', 'largest JSON answer, MiB (past it: 413; binary outputs are not counted)', integer(1), 64)
    // limits and timeouts for hostile or slow clients (http/limits.ts, docs/serving.md)
    .option('--max-inflight-mb <mb>', 'bytes in flight across the server (bodies being read and decoded, answers not yet written), MiB; past it requests get 503 + Retry-After [default: 4 x --max-body-mb, at least 256]', integer(1))
    .option('--headers-timeout-secs <s>', 'the request line and headers must arrive within this', positiveNumber, 10)
    .option('--request-timeout-secs <s>', 'the whole request, body included, must arrive within this; an answer not read by the client within it closes the connection', positiveNumber, 60)
    .option('--keep-alive-timeout-secs <s>', 'idle keep-alive connections are closed after this', positiveNumber, 72)
    .option('--max-connections <n>', 'open HTTP connections; past it the most stalled idle or still-sending one is closed [default: 4096, kept below the open-file limit]', integer(1))
    .option('--model-control <mode>', 'none: load all at start; explicit: load via the repository API; poll: watch the repository', mode, 'none')
    .option('--load-model <name>', 'explicit mode: load this model at start (repeatable; * = all)', collect, [])
    .option('--repository-poll-secs <s>', 'poll mode: seconds between repository scans', integer(1), 15)
    .option('--registry', 'serve every registry model with a production alias (plus its canary and shadow), follow catalog changes, and serve the admin API at /api/v1 (docs at /docs)')
    .option('--home <dir>', 'registry home [default: $BERTH_HOME or ~/.berth]')
    .option('--catalog <url>', 'registry catalog URL, e.g. postgres://... [default: $BERTH_CATALOG_URL or the SQLite catalog in the home]')
    .option('--registry-poll-secs <s>', 'seconds between registry change checks', positiveNumber, 2)
    .option('--require-auth', 'inference and metadata endpoints need an API key too (admin endpoints always do); needs --registry')
    .option('--restricted-api <spec>', `CATEGORY[,CATEGORY...]:HEADER=VALUE: those APIs need that header (HTTP) or metadata (gRPC), as Triton's --http-restricted-api; VALUE may be @FILE; repeatable. Categories: ${CATEGORIES.join(', ')}`, restrictedApis, [])
    .option('--allowed-hosts <hosts>', 'Host header names accepted, comma-separated (*.domain, IP addresses; * = any) [default: localhost names and IP addresses when --host is loopback, else any]', cliParser(parseAllowedHosts))
    .option('--allowed-origins <origins>', 'browser origins (https://app.example) whose POST/PUT/PATCH/DELETE requests are accepted besides the server\'s own; * = any [default: none]', cliParser(parseAllowedOrigins))
    .option('--exit-timeout-secs <s>', 'on SIGTERM, longest wait for in-flight requests before exiting anyway', integer(0), 30)
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info')
    .option('--no-metrics', 'do not serve Prometheus metrics at GET /metrics')
    .option('--access-log-sample <r>', 'share of successful requests given an access log line, 0..1 (failures are always logged)', share, 1)
    .option('--access-log-max-per-sec <n>', 'above about this many successful requests a second, access lines are sampled (each says its sample_rate); 0 = no cap', integer(0), 1000)
    .option('--no-access-log', 'no access log lines at all')
    .option('--example', 'also serve the bundled digits example (trained on first use)')
    .option('--capture-rate <r>', 'share of successful requests captured (inputs, outputs, id, version, time) to HOME/monitor/capture, 0..1', share, 0)
    .option('--capture-max-mb <mb>', 'size bound of the capture store, MiB (oldest segments are deleted)', positiveNumber, 256)
    .option('--drift-window <n>', 'samples per drift window, compared with the reference profile; 0 turns drift off', integer(0), 500)
    .option('--drift-window-secs <s>', 'a drift window also closes after this many seconds (with at least 30 samples)', positiveNumber, 3600)
    .option('--drift-reference-size <n>', 'first live samples that become the drift reference when a version has no saved profile', integer(1), 1000)
    .option('--no-dashboard', 'do not serve the web dashboard at / (its data endpoints under /api/v1 stay)')
    .option('--alerts <file>', 'alert rules (YAML): accuracy, drift, p99 latency, error rate -> webhooks')
    .action(async (paths: string[], flags: ServeFlags) => {
      const logger = createServerLogger(flags.logLevel);
      const all = [...paths];
      if (flags.example || (all.length === 0 && !flags.registry)) {
        const { ensureDigitsModel } = await import('../../examples/digits/index.js');
        const dir = join(berthHome(), 'examples');
        const result = await ensureDigitsModel(dir);
        if (result.built) logger.info({ path: result.modelPath, test_accuracy: result.testAccuracy }, 'trained the digits example');
        all.push(join(dir, 'digits'));
      }
      const defaults: Partial<ModelConfig> = {};
      if (flags.instances !== undefined) defaults.instances = flags.instances;
      if (flags.maxBatchSize !== undefined) defaults.maxBatchSize = flags.maxBatchSize;
      if (flags.maxQueueDelayUs !== undefined) defaults.maxQueueDelayUs = flags.maxQueueDelayUs;
      if (flags.preferredBatchSize !== undefined) defaults.preferredBatchSizes = flags.preferredBatchSize;
      if (flags.maxQueue !== undefined) defaults.maxQueueSize = flags.maxQueue;
      if (flags.intraOpThreads !== undefined) defaults.intraOpThreads = flags.intraOpThreads;
      const server = await startServer({
        paths: all,
        host: flags.host,
        port: flags.port,
        defaults,
        bodyLimit: flags.maxBodyMb * 1024 * 1024,
        responseLimit: flags.maxResponseMb * 1024 * 1024,
        httpLimits: {
          maxInflightBytes: flags.maxInflightMb === undefined ? undefined : flags.maxInflightMb * 1024 * 1024,
          headersTimeoutMs: flags.headersTimeoutSecs * 1000,
          requestTimeoutMs: flags.requestTimeoutSecs * 1000,
          keepAliveTimeoutMs: flags.keepAliveTimeoutSecs * 1000,
          maxConnections: flags.maxConnections,
        },
        grpcPort: flags.grpcPort === 0 ? null : flags.grpcPort,
        grpcMaxMessageBytes: flags.grpcMaxMessageMb === undefined ? undefined : flags.grpcMaxMessageMb * 1024 * 1024,
        logger,
        modelControl: { mode: flags.modelControl, startupModels: flags.loadModel, pollSecs: flags.repositoryPollSecs },
        registry: flags.registry
          ? { home: flags.home ?? process.env.BERTH_HOME, catalogUrl: flags.catalog ?? process.env.BERTH_CATALOG_URL, pollSecs: flags.registryPollSecs }
          : undefined,
        requireAuth: flags.requireAuth,
        access: { allowedHosts: flags.allowedHosts, allowedOrigins: flags.allowedOrigins, restricted: flags.restrictedApi },
        metrics: flags.metrics,
        dashboard: flags.dashboard,
        accessLog: flags.accessLog ? { sampleRate: flags.accessLogSample, maxLinesPerSec: flags.accessLogMaxPerSec } : false,
        monitoring: {
          home: flags.home ?? berthHome(),
          captureRate: flags.captureRate,
          captureMaxMb: flags.captureMaxMb,
          driftWindow: flags.driftWindow,
          driftWindowSecs: flags.driftWindowSecs,
          driftReferenceSize: flags.driftReferenceSize,
          alerts: flags.alerts,
        },
      });
      logger.info({ url: server.url, grpc_port: server.grpcPort, models: server.service.modelNames() }, `berth serving on ${server.url}${server.grpcPort ? ` (gRPC on port ${server.grpcPort})` : ''}`);
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'draining: readiness is false, finishing in-flight requests');
        setTimeout(() => {
          logger.error({ exit_timeout_secs: flags.exitTimeoutSecs }, 'in-flight requests did not finish in time; exiting');
          process.exit(1);
        }, flags.exitTimeoutSecs * 1000).unref();
        server.close().then(
          () => {
            logger.info('stopped');
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'error while stopping');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
