/**
 * The admin API's answers (and the bodies it takes), defined once as zod schemas over the
 * registry's records (registry/schemas.ts). admin-routes.ts turns them (zod-json-schema.ts)
 * into the JSON Schemas fastify validates and serializes with and @fastify/swagger publishes in
 * the OpenAPI document; the web dashboard imports their types (web/src/api/types.ts). This
 * module imports zod and the registry's schemas only, so the dashboard's type-check can follow it.
 */
import { z } from 'zod';
import { CanarySchema, ShadowSchema } from '../registry/schemas.js';

const integer = z.number().int();

/** Every error answer: `{"error": "..."}`. */
export const ErrorSchema = z.object({ error: z.string() });

/** GET /api/v1/models/{name}/rollout (and the rollout-changing POSTs): the catalog's rollout. */
export const RolloutStateSchema = z.object({
  model: z.string(),
  production: integer.nullable().meta({ description: 'the version the production alias points to' }),
  canary: CanarySchema.nullable(),
  shadow: ShadowSchema.nullable(),
  updatedAt: z.string().nullable(),
});

/** A traffic policy as this server applies it (versions as strings, as the core names them). */
export const TrafficPolicySchema = z.object({
  production: z.string(),
  canary: z.object({ version: z.string(), percent: z.number() }).optional(),
  shadow: z.string().optional(),
});

export const LatencySummarySchema = z.object({ p50: z.number().optional(), p99: z.number().optional(), samples: integer });

/** GET /api/v1/models/{name}/rollout/stats: this server's live view of a model's rollout. */
export const RolloutStatsSchema = z.object({
  model: z.string(),
  served: z.boolean().meta({ description: 'whether this server has the model loaded' }),
  versions: z.array(z.object({ version: z.string(), state: z.string(), reason: z.string() })),
  policy: TrafficPolicySchema.nullable(),
  since: z.string().nullable(),
  requests: z.record(z.string(), z.object({ success: integer, failure: integer })),
  canaryShare: z.number().nullable(),
  shadow: z.object({
    version: z.string(),
    mirrored: integer,
    agreed: integer,
    agreement: z.number().nullable(),
    skipped: integer,
    failed: integer,
    maxAbsDiff: z.number(),
    latencyMs: z.object({ primary: LatencySummarySchema, shadow: LatencySummarySchema }),
  }).nullable(),
});

/** PUT and DELETE /api/v1/models/{name}/aliases/{alias}. */
export const AliasResultSchema = z.object({ model: z.string(), alias: z.string(), version: integer.nullable() });

/** GET /api/v1/serving: what this server serves from the registry. */
export const ServingStateSchema = z.object({
  changeSeq: integer.nullable(),
  lastSyncAt: z.string().nullable(),
  models: z.array(z.object({ name: z.string(), policy: TrafficPolicySchema, error: z.string().optional() })),
});

/** POST /api/v1/models/{name}/rollout: a canary share and/or a shadow version (at least one). */
export const RolloutRequestSchema = z.strictObject({ canary: z.strictObject(CanarySchema.shape).optional(), shadow: z.strictObject(ShadowSchema.shape).optional() })
  .meta({ minProperties: 1 });

export type RolloutState = z.infer<typeof RolloutStateSchema>;
export type TrafficPolicyView = z.infer<typeof TrafficPolicySchema>;
export type LatencySummary = z.infer<typeof LatencySummarySchema>;
export type RolloutStats = z.infer<typeof RolloutStatsSchema>;
export type AliasResult = z.infer<typeof AliasResultSchema>;
export type ServingState = z.infer<typeof ServingStateSchema>;
export type RolloutRequest = z.infer<typeof RolloutRequestSchema>;
