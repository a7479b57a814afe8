/**
 * The server configuration: one zod schema holding every key's type, default, command-line flag,
 * help text and environment variable. `berth serve`'s options are generated from it
 * (config/flags.ts), a `--config` file is validated by it (config/load.ts), and `startServer()`
 * parses a library caller's partial object with it, so the three cannot drift apart.
 * docs/configuration.md is generated from it too (scripts/config-docs.ts).
 *
 * Units are the ones a person writes (MiB, seconds), as on the command line; startServer turns
 * them into bytes and milliseconds for the modules.
 */
import { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import { CATEGORIES, parseAllowedHosts, parseAllowedOrigins, parseRestrictedApi } from './parsers.js';
import type { RestrictedApi } from './parsers.js';

/** How a schema key appears on `berth serve`'s command line (and in docs/configuration.md). */
export interface FlagMeta {
  /** commander's spelling: '--port <port>', '--registry' (a switch), '--no-metrics' (turns a default-on key off) */
  flag: string;
  help: string;
  /** an environment variable read when neither the flag nor the file sets the key */
  env?: string;
  /** shown as the default when the key has no plain default value (computed, or another key's) */
  defaultText?: string;
  /** how the command line spells a list: 'repeat' (the flag again) or 'comma' (one comma-separated value) */
  list?: 'repeat' | 'comma';
}

/** The flag registry: every leaf key of the schema is in it (test/config/flags.test.ts checks). */
export const flags = z.registry<FlagMeta>();

function flag<T extends z.ZodType>(schema: T, meta: FlagMeta): T {
  flags.add(schema, meta);
  return schema;
}

const int = (min: number): z.ZodNumber => z.number().int().min(min);
const positive = (): z.ZodNumber => z.number().positive();
const share = (): z.ZodNumber => z.number().min(0).max(1);

/** A value parsed by one of the existing CLI parsers, its Error message made a zod issue. */
function parsedBy<T>(parse: (value: string) => T) {
  return (value: string, ctx: z.RefinementCtx): T => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  };
}

const commaList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v.join(',') : v));
const restrictedApi = z
  .union([
    z.string(),
    // library callers may pass what parseRestrictedApi returned (its digest is the secret's hash)
    z.custom<RestrictedApi>((v) => typeof v === 'object' && v !== null && Buffer.isBuffer((v as RestrictedApi).digest), 'expected CATEGORY[,CATEGORY...]:HEADER=VALUE'),
  ])
  .transform((v, ctx) => (typeof v === 'string' ? parsedBy(parseRestrictedApi)(v, ctx) : v));

const http = z.strictObject({
  host: flag(z.string().min(1).default(DEFAULTS.http.host), { flag: '--host <host>', help: 'address to listen on (HTTP and gRPC)' }),
  port: flag(int(0).max(65535).default(DEFAULTS.http.port), { flag: '--port <port>', help: 'HTTP port (0 = any free port)' }),
  maxBodyMb: flag(positive().default(DEFAULTS.http.maxBodyMb), { flag: '--max-body-mb <mb>', help: 'largest request body (after Content-Encoding is undone), MiB' }),
  maxResponseMb: flag(positive().default(DEFAULTS.http.maxResponseMb), { flag: '--max-response-mb <mb>', help: 'largest JSON answer, MiB (past it: 413; binary outputs are not counted)' }),
  maxInflightMb: flag(positive().optional(), {
    flag: '--max-inflight-mb <mb>',
    help: 'bytes in flight across the server (bodies being read and decoded, answers not yet written), MiB; past it requests get 429 + Retry-After',
    defaultText: '4 x --max-body-mb, at least 256',
  }),
  headersTimeoutSecs: flag(positive().default(DEFAULTS.http.headersTimeoutSecs), { flag: '--headers-timeout-secs <s>', help: 'the request line and headers must arrive within this' }),
  requestTimeoutSecs: flag(positive().default(DEFAULTS.http.requestTimeoutSecs), {
    flag: '--request-timeout-secs <s>',
    help: 'the whole request, body included, must arrive within this; an answer not read by the client within it closes the connection',
  }),
  keepAliveTimeoutSecs: flag(positive().default(DEFAULTS.http.keepAliveTimeoutSecs), { flag: '--keep-alive-timeout-secs <s>', help: 'idle keep-alive connections are closed after this' }),
  maxConnections: flag(int(1).optional(), {
    flag: '--max-connections <n>',
    help: 'open HTTP connections; past it the most stalled idle or still-sending one is closed',
    defaultText: `${DEFAULTS.http.maxConnections}, kept below the open-file limit`,
  }),
});

const grpc = z.strictObject({
  enabled: flag(z.boolean().default(true), { flag: '--no-grpc', help: 'no gRPC front end' }),
  port: flag(int(0).max(65535).default(DEFAULTS.grpc.port), {
    flag: '--grpc-port <port>',
    help: 'gRPC port; in a file or object 0 = any free port, on the command line 0 disables gRPC (as --no-grpc)',
  }),
  maxMessageMb: flag(positive().optional(), { flag: '--grpc-max-message-mb <mb>', help: 'largest gRPC message, MiB', defaultText: '--max-body-mb' }),
});

/** Defaults for every model; a model's own config.json wins (core/model-config.ts). Names as in ModelConfig. */
const models = z.strictObject({
  instances: flag(int(1).default(DEFAULTS.models.instances), { flag: '--instances <n>', help: 'model instances (worker threads) per model version' }),
  maxBatchSize: flag(int(0).default(DEFAULTS.models.maxBatchSize), { flag: '--max-batch-size <n>', help: 'largest dynamic batch, rows; 0 disables batching' }),
  maxQueueDelayUs: flag(int(0).default(DEFAULTS.models.maxQueueDelayUs), { flag: '--max-queue-delay-us <us>', help: 'longest wait for a fuller batch, microseconds' }),
  preferredBatchSizes: flag(z.array(int(1)).min(1).optional(), {
    flag: '--preferred-batch-size <sizes>',
    help: 'batch sizes that go without waiting for the delay, e.g. 32',
    defaultText: 'every size from half of --max-batch-size up',
    list: 'comma',
  }),
  maxQueueSize: flag(int(0).default(DEFAULTS.models.maxQueueSize), { flag: '--max-queue <n>', help: 'queued requests per model version before 429 + Retry-After; 0 = unbounded' }),
  intraOpThreads: flag(int(1).optional(), { flag: '--intra-op-threads <n>', help: 'onnxruntime threads per instance', defaultText: 'onnxruntime decides' }),
});

const modelControl = z.strictObject({
  mode: flag(z.enum(['none', 'explicit', 'poll']).default('none'), {
    flag: '--model-control <mode>',
    help: 'none: load all at start; explicit: load via the repository API; poll: watch the repository',
  }),
  startupModels: flag(z.array(z.string().min(1)).default([]), { flag: '--load-model <name>', help: 'explicit mode: load this model at start (repeatable; * = all)', list: 'repeat' }),
  pollSecs: flag(positive().default(DEFAULTS.modelControl.pollSecs), { flag: '--repository-poll-secs <s>', help: 'poll mode: seconds between repository scans' }),
});

const registry = z.strictObject({
  enabled: flag(z.boolean().default(false), {
    flag: '--registry',
    help: 'serve every registry model with a production alias (plus its canary and shadow), follow catalog changes, and serve the admin API at /api/v1 (docs at /docs)',
  }),
  catalogUrl: flag(z.string().min(1).optional(), {
    flag: '--catalog <url>',
    help: 'registry catalog URL, e.g. postgres://...',
    env: 'BERTH_CATALOG_URL',
    defaultText: 'the SQLite catalog in the home',
  }),
  pollSecs: flag(positive().default(DEFAULTS.registry.pollSecs), { flag: '--registry-poll-secs <s>', help: 'seconds between registry change checks' }),
});

const access = z.strictObject({
  allowedHosts: flag(commaList.pipe(z.string().transform(parsedBy(parseAllowedHosts))).optional(), {
    flag: '--allowed-hosts <hosts>',
    help: 'Host header names accepted, comma-separated (*.domain, IP addresses; * = any)',
    defaultText: 'localhost names and IP addresses when --host is loopback, else any',
    list: 'comma',
  }),
  allowedOrigins: flag(commaList.pipe(z.string().transform(parsedBy(parseAllowedOrigins))).optional(), {
    flag: '--allowed-origins <origins>',
    help: 'browser origins (https://app.example) whose POST/PUT/PATCH/DELETE requests are accepted besides the server\'s own; * = any',
    defaultText: 'none',
    list: 'comma',
  }),
  restricted: flag(z.array(restrictedApi).default([]), {
    flag: '--restricted-api <spec>',
    help: `CATEGORY[,CATEGORY...]:HEADER=VALUE: those APIs need that header (HTTP) or metadata (gRPC), as Triton's --http-restricted-api; VALUE may be @FILE; repeatable. Categories: ${CATEGORIES.join(', ')}`,
    list: 'repeat',
  }),
});

const accessLog = z.strictObject({
  enabled: flag(z.boolean().default(true), { flag: '--no-access-log', help: 'no access log lines at all' }),
  sampleRate: flag(share().default(DEFAULTS.logging.accessLogSample), {
    flag: '--access-log-sample <r>',
    help: 'share of successful requests given an access log line, 0..1 (failures are always logged)',
  }),
  maxLinesPerSec: flag(int(0).default(DEFAULTS.logging.accessLogMaxPerSec), {
    flag: '--access-log-max-per-sec <n>',
    help: 'above about this many successful requests a second, access lines are sampled (each says its sample_rate); 0 = no cap',
  }),
});

const monitoring = z.strictObject({
  enabled: flag(z.boolean().default(true), { flag: '--no-monitoring', help: 'no capture, drift, feedback or alerts (their endpoints answer 404)' }),
  captureRate: flag(share().default(DEFAULTS.monitoring.captureRate), {
    flag: '--capture-rate <r>',
    help: 'share of successful requests captured (inputs, outputs, id, version, time) to HOME/monitor/capture, 0..1',
  }),
  captureMaxMb: flag(positive().default(DEFAULTS.monitoring.captureMaxMb), { flag: '--capture-max-mb <mb>', help: 'size bound of the capture store, MiB (oldest segments are deleted)' }),
  driftWindow: flag(int(0).default(DEFAULTS.monitoring.driftWindow), { flag: '--drift-window <n>', help: 'samples per drift window, compared with the reference profile; 0 turns drift off' }),
  driftWindowSecs: flag(positive().default(DEFAULTS.monitoring.driftWindowSecs), { flag: '--drift-window-secs <s>', help: 'a drift window also closes after this many seconds (with at least 30 samples)' }),
  driftReferenceSize: flag(int(1).default(DEFAULTS.monitoring.driftReferenceSize), {
    flag: '--drift-reference-size <n>',
    help: 'first live samples that become the drift reference when a version has no saved profile',
  }),
  driftMaxSamplesPerSec: flag(int(0).default(DEFAULTS.monitoring.driftMaxSamplesPerSec), {
    flag: '--drift-max-samples-per-sec <n>',
    help: 'at most about this many requests a second go to the drift monitor; 0 = no cap',
  }),
  accuracyWindow: flag(int(1).default(DEFAULTS.monitoring.accuracyWindow), { flag: '--accuracy-window <n>', help: 'labelled predictions (POST .../feedback) in the rolling accuracy, per version' }),
  alerts: flag(z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(), {
    flag: '--alerts <file>',
    help: 'alert rules (YAML): accuracy, drift, p99 latency, error rate -> webhooks; in a config file also the rules themselves',
    defaultText: 'none',
  }),
});

export const serverConfigSchema = z.strictObject({
  paths: flag(z.array(z.string().min(1)).default([]), {
    flag: '[paths...]',
    help: '.onnx files, model directories (NAME/VERSION/model.onnx) or repositories of them',
    defaultText: 'the digits example, unless --registry',
  }),
  home: flag(z.string().min(1).optional(), {
    flag: '--home <dir>',
    help: 'berth home: the registry\'s store and catalog, HOME/monitor (capture, profiles), HOME/examples',
    env: 'BERTH_HOME',
    defaultText: '~/.berth',
  }),
  example: flag(z.boolean().default(false), { flag: '--example', help: 'also serve the bundled digits example (trained on first use, kept in HOME/examples)' }),
  http: http.prefault({}),
  grpc: grpc.prefault({}),
  models: models.prefault({}),
  modelControl: modelControl.prefault({}),
  registry: registry.prefault({}),
  requireAuth: flag(z.boolean().default(false), { flag: '--require-auth', help: 'inference and metadata endpoints need an API key too (admin endpoints always do); needs --registry' }),
  access: access.prefault({}),
  maxShadowInFlight: flag(int(1).default(DEFAULTS.maxShadowInFlight), { flag: '--max-shadow-in-flight <n>', help: 'shadow-traffic copies in flight per model before further copies are skipped' }),
  logLevel: flag(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(DEFAULTS.logging.level), {
    flag: '--log-level <level>',
    help: 'fatal|error|warn|info|debug|trace|silent',
  }),
  accessLog: accessLog.prefault({}),
  metrics: flag(z.boolean().default(true), { flag: '--no-metrics', help: 'do not serve Prometheus metrics at GET /metrics' }),
  dashboard: flag(z.boolean().default(true), { flag: '--no-dashboard', help: 'do not serve the web dashboard at / (its data endpoints under /api/v1 stay)' }),
  monitoring: monitoring.prefault({}),
  drainDelaySecs: flag(z.number().min(0).max(86400).default(DEFAULTS.drainDelaySecs), {
    flag: '--drain-delay <s>',
    help: 'on SIGTERM, seconds to keep serving with readiness failed (while balancers and Kubernetes remove this endpoint) before refusing new connections',
  }),
  drainTimeoutSecs: flag(z.number().min(0).max(86400).optional(), {
    flag: '--drain-timeout <s>',
    help: 'on SIGTERM, after the drain delay: longest wait for in-flight requests before exiting 1 anyway',
    defaultText: '--exit-timeout-secs (30)',
  }),
  exitTimeoutSecs: flag(int(0).default(DEFAULTS.exitTimeoutSecs), {
    flag: '--exit-timeout-secs <s>',
    help: 'alias of --drain-timeout, its older name (--drain-timeout wins when both are given)',
  }),
});

/** What a config file or a library caller writes: every key optional. */
export type BerthConfigFile = z.input<typeof serverConfigSchema>;
/** The parsed configuration: defaults filled in, lists parsed, deeply frozen. */
export type BerthConfig = z.output<typeof serverConfigSchema>;
