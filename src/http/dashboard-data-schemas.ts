/**
 * The answers of the dashboard's data routes (dashboard-data-routes.ts), defined once as zod
 * schemas: the route serializes with the JSON Schema derived from them and the web dashboard
 * imports their types (web/src/api/types.ts). Imports zod only, like admin-schemas.ts.
 */
import { z } from 'zod';

/** What this server has turned on: the parts of the API a client can expect to answer. */
export const ServerCapabilitiesSchema = z.object({
  registry: z.boolean().meta({ description: 'the admin API over a registry (models, versions, aliases, rollouts, audit)' }),
  apiKeys: z.boolean().meta({ description: '/api/v1 needs an API key (always true with the registry)' }),
  requireAuth: z.boolean().meta({ description: 'inference and /v2 reads need a key too (--require-auth)' }),
  metrics: z.boolean().meta({ description: 'GET /metrics' }),
  monitoring: z.boolean().meta({ description: 'drift, accuracy from feedback, alerts, capture' }),
  drift: z.boolean().meta({ description: 'drift windows (off with --drift-window 0)' }),
  dashboard: z.boolean().meta({ description: "the dashboard's own files at /" }),
});

const PolicyViewSchema = z.strictObject({
  production: z.number().int().meta({ description: 'the version answering unversioned requests' }),
  canary: z.strictObject({ version: z.number().int(), percent: z.number() }).nullable().meta({ description: 'the canary version and its share of unversioned requests' }),
  shadow: z.number().int().nullable().meta({ description: 'the version receiving a copy of every unversioned request' }),
});

/**
 * `serve --registry`: which catalog state this replica has applied (serving/registry-sync.ts).
 * A fleet has converged when every replica reports `converged` with the same `applied_seq`.
 */
export const ConvergenceSchema = z.strictObject({
  catalog: z.enum(['reachable', 'unreachable', 'unknown']).meta({ description: "whether the catalog answered this replica's last poll ('unknown' before the first answer)" }),
  location: z.string().nullable().meta({ description: 'the catalog followed (credentials redacted)' }),
  poll_secs: z.number().meta({ description: 'seconds between change checks (--registry-poll-secs); while the catalog fails, retries back off up to 30 s' }),
  catalog_seq: z.number().int().nullable().meta({ description: "the catalog's change sequence as last seen" }),
  checked_at: z.string().nullable().meta({ description: 'when the catalog last answered (ISO 8601)' }),
  read_seq: z.number().int().nullable().meta({ description: 'the change sequence of the catalog state last read in full' }),
  read_at: z.string().nullable().meta({ description: 'when it was read' }),
  applied_seq: z.number().int().nullable().meta({ description: 'the change sequence whose desired state is fully applied (every model converged)' }),
  applied_at: z.string().nullable().meta({ description: 'when that application finished' }),
  source: z.enum(['catalog', 'cache', 'none']).meta({ description: "where the desired state came from: the catalog, or the state saved under HOME/serving when the catalog was unreachable at start" }),
  converged: z.boolean().meta({ description: 'the catalog answered, applied_seq equals catalog_seq and every model is converged' }),
  error: z.string().nullable().meta({ description: 'why the catalog cannot be read, while it cannot' }),
  next_retry_at: z.string().nullable().meta({ description: 'when the catalog is tried again, while it cannot be read' }),
  models: z.array(z.strictObject({
    name: z.string(),
    desired: PolicyViewSchema.nullable().meta({ description: 'what the catalog asks for; null when it no longer asks for the model' }),
    applied: PolicyViewSchema.nullable().meta({ description: 'what this replica routes now; null when the model is not loaded' }),
    state: z.enum(['converged', 'applying', 'pending', 'failed', 'unloading', 'conflict'])
      .meta({ description: "converged: applied = desired; applying: loading and warming; pending: to be applied at the next poll; failed: the last attempt failed (error), retried with backoff; unloading: no production alias any more; conflict: a model of that name is loaded from a path" }),
    error: z.string().nullable(),
  })),
});

/** GET /api/v1/server */
export const ServerInfoSchema = z.object({
  name: z.string(),
  version: z.string(),
  ...ServerCapabilitiesSchema.shape,
  history: z.object({ interval_secs: z.number(), window_secs: z.number() }).nullable()
    .meta({ description: 'the sampling of GET /api/v1/metrics/history; null when metrics are off' }),
  convergence: ConvergenceSchema.nullable().meta({ description: 'the catalog state this replica has applied (serve --registry); null without the registry' }),
});

export type ServerCapabilities = z.infer<typeof ServerCapabilitiesSchema>;
export type ServerInfo = z.infer<typeof ServerInfoSchema>;
export type Convergence = z.infer<typeof ConvergenceSchema>;
