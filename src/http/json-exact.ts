/**
 * A JSON parser that keeps integers exact. JSON.parse rounds every number to a double, so
 * 9007199254740993 (2^53+1) becomes 9007199254740992 and 1.0000000000000001 becomes the
 * integer 1; Node 20 has no JSON.parse source-text access to recover what was written. This
 * parser returns what JSON.parse returns except that a number whose double is integral but may
 * not be the written value (more than 15 significant digits, or a magnitude of 2^53 or more)
 * comes back as an {@link ExactNumber} holding its text. It is iterative (explicit stacks), so
 * nesting depth costs heap, not call stack.
 *
 * It is used where an integer tensor's data cannot be decoded by the fast scanner
 * (json-scan.ts): V1 bodies for models with integer inputs, and the error paths of v2.
 */
import { ExactNumber } from './json-decode.js';

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const TWO_53 = 2 ** 53;

export class JsonSyntaxError extends SyntaxError {}

function unexpected(text: string, pos: number): never {
  if (pos >= text.length) throw new JsonSyntaxError('Unexpected end of JSON input');
  throw new JsonSyntaxError(`Unexpected token '${text[pos]}' at position ${pos}`);
}

/** Significant digits of a number token (leading zeros, sign, point and exponent left out). */
function significantDigits(token: string): number {
  let count = 0;
  let leading = true;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 101 || c === 69) break; // e E
    if (c < 48 || c > 57) continue;
    if (leading && c === 48) continue;
    leading = false;
    count++;
  }
  return count;
}

/** A number token as the value it stands for: a double, or its text when the double may lie. */
export function numberValue(token: string): number | ExactNumber {
  const v = Number(token);
  if (!Number.isFinite(v)) return new ExactNumber(token); // 1e400: refused later, named as written
  if (Number.isInteger(v) && (Math.abs(v) >= TWO_53 || (token.length > 15 && significantDigits(token) > 15))) return new ExactNumber(token);
  return v;
}

/** The end (exclusive) of the string token starting at `pos` (a quote), and whether it has escapes. */
export function stringEnd(text: string, pos: number): { end: number; escaped: boolean } {
  let escaped = false;
  for (let i = pos + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) return { end: i + 1, escaped };
    if (c === 92) {
      escaped = true;
      i++;
    } else if (c < 32) {
      unexpected(text, i);
    }
  }
  return unexpected(text, text.length);
}

function readString(text: string, pos: number): { value: string; end: number } {
  const { end, escaped } = stringEnd(text, pos);
  if (!escaped) return { value: text.slice(pos + 1, end - 1), end };
  try {
    return { value: JSON.parse(text.slice(pos, end)) as string, end };
  } catch (err) {
    throw new JsonSyntaxError(`${(err as Error).message} (in the string at position ${pos})`);
  }
}

function skipSpace(text: string, pos: number): number {
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c === 32 || c === 10 || c === 13 || c === 9) pos++;
    else return pos;
  }
}

function setKey(object: Record<string, unknown>, key: string, value: unknown): void {
  // JSON.parse makes "__proto__" an own property; plain assignment would set the prototype.
  if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  else object[key] = value;
}

/** Parses JSON text; throws JsonSyntaxError on malformed input. */
export function parseJsonExact(text: string): unknown {
  const containers: (unknown[] | Record<string, unknown>)[] = [];
  const keys: string[] = [];
  let pos = 0;
  for (;;) {
    // A value starts here.
    pos = skipSpace(text, pos);
    const c = text.charCodeAt(pos);
    let value: unknown;
    if (c === 91) { // [
      pos = skipSpace(text, pos + 1);
      if (text.charCodeAt(pos) === 93) {
        pos++;
        value = [];
      } else {
        containers.push([]);
        keys.push('');
        continue;
      }
    } else if (c === 123) { // {
      pos = skipSpace(text, pos + 1);
      if (text.charCodeAt(pos) === 125) {
        pos++;
        value = {};
      } else {
        if (text.charCodeAt(pos) !== 34) unexpected(text, pos);
        const key = readString(text, pos);
        pos = skipSpace(text, key.end);
        if (text.charCodeAt(pos) !== 58) unexpected(text, pos);
        pos++;
        containers.push({});
        keys.push(key.value);
        continue;
      }
    } else if (c === 34) {
      const s = readString(text, pos);
      value = s.value;
      pos = s.end;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      NUMBER.lastIndex = pos;
      const m = NUMBER.exec(text);
      if (!m) unexpected(text, pos + 1);
      value = numberValue(m[0]);
      pos += m[0].length;
    } else if (text.startsWith('true', pos)) {
      value = true;
      pos += 4;
    } else if (text.startsWith('false', pos)) {
      value = false;
      pos += 5;
    } else if (text.startsWith('null', pos)) {
      value = null;
      pos += 4;
    } else {
      unexpected(text, pos);
    }
    // Attach the value to its container, then close as many containers as end here.
    for (;;) {
      const top = containers.length - 1;
      if (top < 0) {
        pos = skipSpace(text, pos);
        if (pos !== text.length) unexpected(text, pos);
        return value;
      }
      const container = containers[top]!;
      if (Array.isArray(container)) container.push(value);
      else setKey(container, keys[top]!, value);
      pos = skipSpace(text, pos);
      const d = text.charCodeAt(pos);
      if (d === 44) { // ,
        pos++;
        if (!Array.isArray(container)) {
          pos = skipSpace(text, pos);
          if (text.charCodeAt(pos) !== 34) unexpected(text, pos);
          const key = readString(text, pos);
          pos = skipSpace(text, key.end);
          if (text.charCodeAt(pos) !== 58) unexpected(text, pos);
          pos++;
          keys[top] = key.value;
        }
        break;
      }
      if (d !== (Array.isArray(container) ? 93 : 125)) unexpected(text, pos);
      pos++;
      value = containers.pop();
      keys.pop();
    }
  }
}
