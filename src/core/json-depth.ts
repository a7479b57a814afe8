/**
 * Nesting limits for JSON values that clients send and berth keeps (config overrides, admin
 * bodies). JSON.stringify and most walkers recurse, so a 100 000-deep value accepted now is a
 * stack overflow on some later read; this check itself uses an explicit stack.
 */

/** Triton's limit on JSON nesting (HTTP_MAX_JSON_NESTING_DEPTH). */
export const MAX_JSON_DEPTH = 100;

/** Whether a parsed JSON value nests arrays/objects deeper than `limit` levels. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limit) return true;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}
