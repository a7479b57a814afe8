/**
 * Strict validation of kubernetes-models objects. `.validate()` checks types, formats (a
 * resource quantity, int32) and required fields, but accepts unknown fields: a misspelled
 * `replica:` or `readinessprobe:` in YAML passes it, and the API server then drops the field
 * silently (or refuses it with `kubectl apply --validate=strict`). TypeScript's excess-property
 * checks catch that for objects built in code, not for objects read from YAML.
 *
 * The generated validators hold no schema to list the known fields, so each field is probed: its
 * value is replaced by a Symbol, which no typed schema accepts. A field the schema knows yields an
 * error at that field's path; a field it does not know yields none, and is reported as unknown.
 * Maps (labels, annotations, resource lists) type their values too, so their keys count as known.
 */
interface SchemaError {
  instancePath: string;
  message?: string;
}

/** A kubernetes-models class: construct from plain data, then validate(). */
export interface ModelClass {
  new (data: never): { validate(): void };
  readonly kind?: string;
}

const PROBE = Symbol('unknown-field-probe');

function errorsOf(Model: ModelClass, data: unknown): SchemaError[] {
  try {
    new Model(data as never).validate();
    return [];
  } catch (err) {
    const errors = (err as { errors?: SchemaError[] }).errors;
    if (Array.isArray(errors)) return errors;
    throw err;
  }
}

function pointer(path: (string | number)[]): string {
  return path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** Where a probed copy of `root` puts PROBE at `path`. */
function withProbe(root: unknown, path: (string | number)[]): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node: Record<string | number, unknown> = copy;
  for (const step of path.slice(0, -1)) node = node[step] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = PROBE;
  return copy;
}

function unknownFields(Model: ModelClass, root: unknown, node: unknown, path: (string | number)[], found: string[]): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => unknownFields(Model, root, item, [...path, i], found));
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    const at = [...path, key];
    const where = pointer(at);
    const known = errorsOf(Model, withProbe(root, at)).some((e) => e.instancePath === where || e.instancePath.startsWith(where + '/'));
    if (!known) found.push(where);
    else unknownFields(Model, root, value, at, found);
  }
}

/**
 * Validates plain data (from YAML or toJSON()) as the given model: schema errors first, then
 * unknown fields. Throws one error naming every problem.
 */
export function validateStrict(Model: ModelClass, data: unknown): void {
  const kind = Model.kind ?? Model.name;
  const errors = errorsOf(Model, data);
  if (errors.length > 0) {
    throw new Error(`invalid ${kind}: ${errors.map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ')}`);
  }
  const found: string[] = [];
  unknownFields(Model, data, data, [], found);
  if (found.length > 0) throw new Error(`invalid ${kind}: unknown field${found.length > 1 ? 's' : ''} ${found.join(', ')}`);
}
