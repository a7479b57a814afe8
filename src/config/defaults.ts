/**
 * The server configuration's default values, each written once. The schema (config/schema.ts)
 * and the modules that are also used on their own (http/limits.ts, core/model-config.ts, …)
 * import them from here; this file imports nothing, so any layer may use it.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

const MiB = 1024 * 1024;

export const DEFAULTS = {
  http: {
    host: '127.0.0.1',
    port: 8000,
    maxBodyMb: 64,
    maxResponseMb: 64,
    headersTimeoutSecs: 10,
    requestTimeoutSecs: 60,
    /** longer than the 60 s idle timeout of common load balancers, so that they close first (fastify's default) */
    keepAliveTimeoutSecs: 72,
    maxConnections: 4096,
  },
  grpc: { port: 8001 },
  models: { instances: 1, maxBatchSize: 32, maxQueueDelayUs: 1000, maxQueueSize: 1024 },
  modelControl: { pollSecs: 15 },
  registry: { pollSecs: 2 },
  monitoring: { captureRate: 0, captureMaxMb: 256, driftWindow: 500, driftWindowSecs: 3600, driftReferenceSize: 1000, driftMaxSamplesPerSec: 200, accuracyWindow: 1000 },
  /** shadow copies in flight per model before further copies are skipped */
  maxShadowInFlight: 128,
  logging: { level: 'info', accessLogSample: 1, accessLogMaxPerSec: 1000 },
  /** on SIGTERM, the longest wait for requests in flight after the drain delay (--drain-timeout, alias --exit-timeout-secs) */
  exitTimeoutSecs: 30,
  /** on SIGTERM, seconds served with readiness failed before stopping (--drain-delay) */
  drainDelaySecs: 0,
} as const;

export const DEFAULT_BODY_LIMIT_BYTES = DEFAULTS.http.maxBodyMb * MiB;
export const DEFAULT_RESPONSE_LIMIT_BYTES = DEFAULTS.http.maxResponseMb * MiB;

/** An environment variable's value; empty counts as unset (`BERTH_HOME= berth …`). The one rule for every BERTH_* variable. */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * The berth home: $BERTH_HOME, else ~/.berth. The one reader of BERTH_HOME; an empty value
 * counts as unset (as a shell's `BERTH_HOME= berth …` means).
 */
export function berthHome(env: NodeJS.ProcessEnv = process.env): string {
  return envValue(env, 'BERTH_HOME') ?? join(homedir(), '.berth');
}

/** The registry catalog URL from $BERTH_CATALOG_URL (empty = unset), else undefined: SQLite in the home. */
export function catalogUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return envValue(env, 'BERTH_CATALOG_URL');
}
