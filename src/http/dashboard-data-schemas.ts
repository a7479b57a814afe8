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

/** GET /api/v1/server */
export const ServerInfoSchema = z.object({
  name: z.string(),
  version: z.string(),
  ...ServerCapabilitiesSchema.shape,
  history: z.object({ interval_secs: z.number(), window_secs: z.number() }).nullable()
    .meta({ description: 'the sampling of GET /api/v1/metrics/history; null when metrics are off' }),
});

export type ServerCapabilities = z.infer<typeof ServerCapabilitiesSchema>;
export type ServerInfo = z.infer<typeof ServerInfoSchema>;
