/**
 * JSON text built by hand on hot paths (access log lines, capture record headers), where
 * JSON.stringify of a whole object costs several times more than the template it replaces.
 */

/** Characters a JSON string cannot hold as they are (lone surrogates included, as JSON.stringify escapes them). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal; JSON.stringify only when needed (it costs ~60 ns a call, the test ~10). */
export const quote = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

/** A JSON number: what JSON.stringify writes (null for NaN and infinities). */
export const number = (n: number): string => (Number.isFinite(n) ? `${n}` : 'null');

/**
 * `quote` with the literals of strings that repeat (model names, tensor names) kept, up to
 * `bound` of them: the strings may come from clients. Each caller gets its own cache.
 */
export function cachedQuote(bound = 1024): (s: string) => string {
  const cache = new Map<string, string>();
  return (s) => {
    let q = cache.get(s);
    if (q === undefined) {
      q = quote(s);
      if (cache.size < bound) cache.set(s, q);
    }
    return q;
  };
}
