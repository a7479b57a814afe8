/**
 * The registry's records, defined once as zod schemas: registered models, their immutable
 * versions, aliases, rollouts, the append-only audit log and API keys. Everything else derives
 * from these: the TypeScript types (registry/types.ts, z.infer), the admin API's JSON Schemas
 * and its OpenAPI document (http/admin-schemas.ts, z.toJSONSchema), and the web dashboard's
 * types (web/src/api/types.ts imports them). A leaf module: it imports zod and the plain
 * vocabularies of constants.ts, nothing else of berth, so the registry, the front ends and
 * the dashboard can all depend on it.
 *
 * The schemas describe records the registry itself writes; nothing parses catalog rows with
 * them at run time.
 */
import { z } from 'zod';
import { AUDIT_ACTIONS, KEY_SCOPES } from './constants.js';

export { AUDIT_ACTIONS, KEY_SCOPES, NAME_PATTERN } from './constants.js';

const stringMap = z.record(z.string(), z.string());
const integer = z.number().int();

/** One file of a version, stored content-addressed under blobs/sha256/<hex>. */
export const FileEntrySchema = z.object({
  path: z.string().meta({ description: "relative path inside the version: 'model.onnx', or an external-data location such as 'weights.bin'" }),
  digest: z.string().meta({ description: "'sha256:<64 lowercase hex>'" }),
  size: z.number(),
});

/** A model input or output as the Open Inference Protocol describes it. */
export const TensorSignatureSchema = z.object({
  name: z.string(),
  datatype: z.string().meta({ description: 'OIP datatype: FP32, INT64, ... (the ONNX type name for types OIP has no name for)' }),
  shape: z.array(integer).meta({ description: '-1 for a dynamic (symbolic or unknown) dimension; [] when the rank is unknown or 0' }),
});

export const ModelRecordSchema = z.object({
  name: z.string(),
  description: z.string(),
  tags: stringMap,
  createdAt: z.string(),
  latestVersion: integer.meta({ description: '0 while the model has no version yet' }),
  aliases: z.record(z.string(), integer).meta({ description: 'alias → version' }),
});

export const VersionRecordSchema = z.object({
  name: z.string(),
  version: integer,
  digest: z.string().meta({ description: 'digest of model.onnx' }),
  files: z.array(FileEntrySchema),
  size: z.number().meta({ description: 'bytes of all files' }),
  inputs: z.array(TensorSignatureSchema),
  outputs: z.array(TensorSignatureSchema),
  metrics: z.record(z.string(), z.number()),
  tags: stringMap,
  createdAt: z.string(),
  createdBy: z.string(),
  parent: z.object({ name: z.string(), version: integer }).optional().meta({ description: 'the version this one was derived from (lineage)' }),
  derivedBy: z.string().optional().meta({ description: "how it was derived, e.g. 'quantize dynamic int8 of digits:3'" }),
});

export const AuditActionSchema = z.enum(AUDIT_ACTIONS);

export const AuditEntrySchema = z.object({
  id: integer.meta({ description: 'increasing in commit order' }),
  at: z.string().meta({ description: 'ISO 8601' }),
  actor: z.string().meta({ description: "`--actor`, $USER, or 'api-key:<id>'" }),
  // a string rather than the enum: entries written by a newer berth stay readable
  action: z.string().meta({ description: `one of ${AUDIT_ACTIONS.join(', ')}` }),
  model: z.string().optional(),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
});

/** A canary: `percent`% of unversioned requests go to `version`, the rest to production. */
export const CanarySchema = z.object({ version: integer.min(1), percent: z.number().min(0).max(100) });
/** A shadow: every request is mirrored to `version`; responses come from production. */
export const ShadowSchema = z.object({ version: integer.min(1) });

export const RolloutSchema = z.object({
  model: z.string(),
  canary: CanarySchema.optional(),
  shadow: ShadowSchema.optional(),
  updatedAt: z.string(),
});

export const KeyScopeSchema = z.enum(KEY_SCOPES);

export const KeyInfoSchema = z.object({
  id: z.string(),
  scope: KeyScopeSchema,
  name: z.string().optional(),
  createdAt: z.string(),
  revoked: z.boolean(),
});
