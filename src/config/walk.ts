/** Walks the configuration schema: its leaf keys with their flag metadata, defaults and kinds. */
import type { z } from 'zod';
import { flags, serverConfigSchema } from './schema.js';
import type { FlagMeta } from './schema.js';

export type LeafKind = 'boolean' | 'number' | 'integer' | 'string' | 'enum' | 'list' | 'other';

export interface ConfigLeaf {
  /** e.g. ['http', 'port'] */
  path: string[];
  schema: z.ZodType;
  meta: FlagMeta;
  kind: LeafKind;
  /** the schema's default, undefined when the key has none */
  default: unknown;
  /** enum keys: the accepted values */
  values?: readonly string[];
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  entries?: Record<string, string>;
  checks?: { _zod: { def: { check: string; format?: string } } }[];
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Strips default/optional/prefault/pipe wrappers down to the type the value is written as. */
function core(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const d = defOf(s);
    if (d.innerType && (d.type === 'default' || d.type === 'optional' || d.type === 'prefault' || d.type === 'nullable')) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
}

function kindOf(schema: z.ZodType): { kind: LeafKind; values?: readonly string[] } {
  const d = defOf(core(schema));
  if (d.type === 'boolean') return { kind: 'boolean' };
  if (d.type === 'number') return { kind: d.checks?.some((c) => c._zod.def.format === 'safeint') ? 'integer' : 'number' };
  if (d.type === 'string') return { kind: 'string' };
  if (d.type === 'enum') return { kind: 'enum', values: Object.values(d.entries ?? {}) };
  if (d.type === 'array') return { kind: 'list' };
  return { kind: 'other' };
}

/** Every leaf key, depth first in the schema's order. Throws if a leaf has no flag metadata. */
export function leafKeys(schema: z.ZodType = serverConfigSchema, prefix: string[] = []): ConfigLeaf[] {
  const d = defOf(core(schema));
  if (d.type !== 'object' || !d.shape) throw new Error(`config schema: ${prefix.join('.') || '(root)'} is not an object`);
  const out: ConfigLeaf[] = [];
  for (const [key, child] of Object.entries(d.shape)) {
    const path = [...prefix, key];
    const meta = flags.get(child);
    if (meta) {
      const parsedDefault = child.safeParse(undefined);
      out.push({ path, schema: child, meta, default: parsedDefault.success ? parsedDefault.data : undefined, ...kindOf(child) });
    } else if (defOf(core(child)).type === 'object') {
      out.push(...leafKeys(child, path));
    } else {
      throw new Error(`config schema: ${path.join('.')} has no flag (config/schema.ts)`);
    }
  }
  return out;
}
