/**
 * The registry's fixed vocabularies, as plain values: the zod records (schemas.ts) build on
 * them, and code that only checks names or scopes (names.ts, keys, the CLI) reads them without
 * loading zod. Imports nothing.
 */

/** Registry names: `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}` (no path separators, no leading dot). */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';

/** API key scopes: read (list and show), infer (inference), admin (everything). */
export const KEY_SCOPES = ['read', 'infer', 'admin'] as const;

/** What the audit log records. */
export const AUDIT_ACTIONS = [
  'model.create',
  'model.update',
  'version.create',
  'alias.set',
  'alias.delete',
  'rollout.start',
  'rollout.promote',
  'rollout.abort',
  'rollout.rollback',
  'key.create',
  'key.revoke',
] as const;
