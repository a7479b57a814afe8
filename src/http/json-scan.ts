/**
 * The fast path for v2 JSON requests: numeric `data` arrays go from the body text straight
 * into typed arrays, without JSON.parse building an array of doubles first, and integers are
 * read from their digits (so INT64 is exact).
 *
 * 1. {@link locateInputData} walks the body once, without building anything, and finds the
 *    text of each `inputs[i].data` value. The rest of the body (the small header: names,
 *    shapes, datatypes, parameters) is handed to JSON.parse with those values cut out.
 * 2. {@link scanNumericData} converts one such value for its datatype. It takes only the plain
 *    case (nested arrays of numbers, and true/false for BOOL, every element valid for the
 *    datatype); anything else — a string, an object, a value out of range, a syntax error —
 *    returns undefined and the caller decodes that input the general way (json-exact.ts +
 *    fromJson), which finds the problem and words the error. So both paths accept the same
 *    requests, produce the same arrays, and refuse with the same messages.
 *
 * Doubles: a number with at most 15 significant digits and a decimal exponent within ±22 is
 * computed as one correctly rounded multiplication or division of two exact doubles (Clinger's
 * fast path); anything else goes to Number(text), V8's correctly rounded conversion. Either way
 * the double equals JSON.parse's. FP32 elements are then Math.fround of that double (what
 * numpy.float32(float(text)) gives), not a direct decimal→float32 rounding, which differs in
 * rare double-rounding cases. For FP32, a longer number (17 digits: a float32 widened to double)
 * is bracketed by its first 15 digits and the next value up; when both round to the same
 * float32, that is the answer, with no string conversion.
 */
import type { Datatype, NumericArray } from '../core/tensor.js';
import { DATATYPES } from '../core/tensor.js';
import { INT_RANGES, MAX_DEPTH, exactInteger } from './json-decode.js';
import { stringEnd } from './json-exact.js';

/** Where an input's `data` value lies in the body text: [start, end). */
export type DataSpan = readonly [number, number];

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i); // all exact doubles

function skipSpace(text: string, pos: number): number {
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c === 32 || c === 10 || c === 13 || c === 9) pos++;
    else return pos;
  }
}

const STRUCTURE = /["[\]{}]/g;
const DELIMITER = /[\s,\]}]/g;

/**
 * The end of the (syntactically plausible) value at `pos`, strings and brackets tracked. The
 * search for the next quote or bracket is a regular expression, so the digits of a large data
 * array are passed over in native code.
 */
function skipValue(text: string, pos: number): number {
  const first = text.charCodeAt(pos);
  if (first === 34) return stringEnd(text, pos).end;
  if (first !== 91 && first !== 123) {
    DELIMITER.lastIndex = pos;
    return DELIMITER.exec(text) ? DELIMITER.lastIndex - 1 : text.length;
  }
  let depth = 0;
  STRUCTURE.lastIndex = pos;
  for (;;) {
    const m = STRUCTURE.exec(text);
    if (!m) return text.length;
    const c = text.charCodeAt(m.index);
    if (c === 34) {
      STRUCTURE.lastIndex = stringEnd(text, m.index).end;
    } else if (c === 91 || c === 123) {
      depth++;
    } else if (--depth === 0) {
      return m.index + 1;
    }
  }
}

function keyAt(text: string, pos: number): { key: string; end: number } {
  const { end, escaped } = stringEnd(text, pos);
  return { key: escaped ? (JSON.parse(text.slice(pos, end)) as string) : text.slice(pos + 1, end - 1), end };
}

export interface LocatedBody {
  /** the body with every located data value replaced by 0, for JSON.parse */
  header: string;
  /** by input index */
  spans: Map<number, DataSpan>;
}

/**
 * Finds `inputs[i].data` in a v2 request body. Returns undefined when the text is not shaped
 * like JSON the walk understands (the caller then parses it whole and reports the error).
 * Duplicate keys follow JSON.parse: the last one wins.
 */
export function locateInputData(text: string): LocatedBody | undefined {
  try {
    return locate(text);
  } catch {
    return undefined;
  }
}

function locate(text: string): LocatedBody | undefined {
  const objects: boolean[] = []; // per open container: object (true) or array
  const keys: string[] = []; // current key of each open object
  const index: number[] = []; // current element index of each open array
  let spans = new Map<number, DataSpan>();
  let pos = 0;
  const n = text.length;
  for (;;) {
    pos = skipSpace(text, pos);
    if (pos >= n) return undefined;
    // A value starts here.
    const depth = objects.length;
    if (depth === 3 && keys[2] === 'data' && objects[0] && keys[0] === 'inputs' && !objects[1] && objects[2]) {
      const end = skipValue(text, pos);
      spans.set(index[1]!, [pos, end]);
      pos = end;
    } else {
      if (depth === 1 && objects[0] && keys[0] === 'inputs') spans = new Map(); // a later "inputs" wins
      const c = text.charCodeAt(pos);
      if (c === 91 || c === 123) {
        const isObject = c === 123;
        pos = skipSpace(text, pos + 1);
        const close = text.charCodeAt(pos);
        if (close === (isObject ? 125 : 93)) {
          pos++;
        } else {
          objects.push(isObject);
          index.push(0);
          if (isObject) {
            if (close !== 34) return undefined;
            const k = keyAt(text, pos);
            pos = skipSpace(text, k.end);
            if (text.charCodeAt(pos) !== 58) return undefined;
            pos++;
            keys.push(k.key);
          } else {
            keys.push('');
          }
          continue;
        }
      } else {
        const end = skipValue(text, pos);
        if (end === pos) return undefined;
        pos = end;
      }
    }
    // After a value: a separator, or the end of one or more containers.
    for (;;) {
      pos = skipSpace(text, pos);
      const top = objects.length - 1;
      if (top < 0) return pos === n ? { header: cut(text, spans), spans } : undefined;
      const c = text.charCodeAt(pos);
      if (c === 44) {
        pos++;
        if (objects[top]) {
          pos = skipSpace(text, pos);
          if (text.charCodeAt(pos) !== 34) return undefined;
          const k = keyAt(text, pos);
          pos = skipSpace(text, k.end);
          if (text.charCodeAt(pos) !== 58) return undefined;
          pos++;
          keys[top] = k.key;
        } else {
          index[top]!++;
        }
        break;
      }
      if (c !== (objects[top] ? 125 : 93)) return undefined;
      pos++;
      objects.pop();
      keys.pop();
      index.pop();
    }
  }
}

function cut(text: string, spans: Map<number, DataSpan>): string {
  if (spans.size === 0) return text;
  const ordered = [...spans.values()].sort((a, b) => a[0] - b[0]);
  let out = '';
  let from = 0;
  for (const [start, end] of ordered) {
    out += text.slice(from, start) + '0';
    from = end;
  }
  return out + text.slice(from);
}

type Out = Exclude<NumericArray, BigInt64Array | BigUint64Array> | BigInt64Array | BigUint64Array;

/** m × 10^scale, correctly rounded, for m < 2^53 and |scale| ≤ 22 (Clinger's fast path). */
function scaled(m: number, scale: number): number {
  return scale >= 0 ? m * POW10[scale]! : m / POW10[-scale]!;
}

/** Whether 64-bit integers can be written as two 32-bit halves, low half first. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Converts one data value (text[start, end)) for a numeric or BOOL datatype. Returns undefined
 * when it is not the plain valid case (the caller then takes the general path), and null for
 * float data where many tokens need more than 15 significant digits and the bracket above does
 * not settle them (FP64 data written in full): each such token costs a slice and Number() here,
 * and JSON.parse of the span followed by {@link floatsFromParsed} is faster.
 * `expected` (the element count of the declared shape) sizes the array.
 */
export function scanNumericData(text: string, start: number, end: number, datatype: Datatype, expected: number): NumericArray | undefined | null {
  if (datatype === 'BYTES' || datatype === 'FP16') return undefined;
  const range = INT_RANGES[datatype];
  const isInteger = range !== undefined;
  const wide = datatype === 'INT64' || datatype === 'UINT64';
  const lo = range ? Number(range[0]) : 0;
  const hi = range ? Number(range[1]) : 0;
  const isBool = datatype === 'BOOL';
  const single = datatype === 'FP32';
  const Ctor = DATATYPES[datatype].array!;
  let out = new Ctor(Math.max(1, Math.min(expected, ((end - start) >> 1) + 1))) as Out;
  // INT64/UINT64 elements below 2^53 are stored as two int32 halves: no BigInt per element.
  const halves = wide && LITTLE_ENDIAN;
  let words = halves ? new Int32Array(out.buffer) : undefined;
  let count = 0;
  let long = 0; // float tokens that took the slow conversion
  let depth = 0;
  let pos = start;
  for (;;) {
    // A value starts here.
    pos = skipSpace(text, pos);
    let c = text.charCodeAt(pos);
    if (c === 91) {
      if (++depth > MAX_DEPTH) return undefined;
      pos = skipSpace(text, pos + 1);
      if (text.charCodeAt(pos) !== 93) continue;
      pos++;
      depth--;
    } else {
      let v: number;
      let big: bigint | undefined;
      if (c === 45 || (c >= 48 && c <= 57)) {
        // A number token: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
        const tokenStart = pos;
        const negative = c === 45;
        if (negative) c = text.charCodeAt(++pos);
        // The first 15 significant digits go into the mantissa (exact in a double); later ones
        // only shift the scale and say whether the kept digits are a truncation.
        let mantissa = 0;
        let significant = 0;
        let dropped = 0;
        let truncated = false;
        let fraction = 0;
        let simple = true; // no point, no exponent
        if (c === 48) {
          c = text.charCodeAt(++pos);
        } else if (c >= 49 && c <= 57) {
          do {
            if (significant < 15) mantissa = mantissa * 10 + (c - 48);
            else {
              dropped++;
              if (c !== 48) truncated = true;
            }
            significant++;
            c = text.charCodeAt(++pos);
          } while (c >= 48 && c <= 57);
        } else {
          return undefined;
        }
        if (c === 46) {
          simple = false;
          c = text.charCodeAt(++pos);
          if (!(c >= 48 && c <= 57)) return undefined;
          do {
            if (significant > 0 || c !== 48) {
              if (significant < 15) mantissa = mantissa * 10 + (c - 48);
              else {
                dropped++;
                if (c !== 48) truncated = true;
              }
              significant++;
            }
            fraction++;
            c = text.charCodeAt(++pos);
          } while (c >= 48 && c <= 57);
        }
        let exponent = 0;
        if (c === 101 || c === 69) {
          simple = false;
          c = text.charCodeAt(++pos);
          let sign = 1;
          if (c === 43 || c === 45) {
            if (c === 45) sign = -1;
            c = text.charCodeAt(++pos);
          }
          if (!(c >= 48 && c <= 57)) return undefined;
          do {
            if (exponent < 1e6) exponent = exponent * 10 + (c - 48);
            c = text.charCodeAt(++pos);
          } while (c >= 48 && c <= 57);
          exponent *= sign;
        }
        if (isInteger) {
          if (simple && significant <= 15) {
            v = negative ? -mantissa : mantissa;
          } else {
            const exact = exactInteger(text.slice(tokenStart, pos));
            if (typeof exact !== 'bigint') return undefined;
            v = Number(exact);
            if (wide) big = exact;
          }
          if (v < lo || v > hi) return undefined;
          if (big !== undefined && (big < range[0] || big > range[1])) return undefined;
        } else {
          const scale = exponent - fraction + dropped;
          const fast = scale >= -22 && scale <= 22;
          if (fast && !truncated) {
            v = scaled(mantissa, scale);
            if (negative) v = -v;
          } else if (fast && single && Math.fround(v = scaled(mantissa, scale)) === Math.fround(scaled(mantissa + 1, scale))) {
            // FP32 of a long number (a float32 widened to 17 digits, as Python and
            // JSON.stringify write it): the exact value lies in [m, m + 1) × 10^scale, both ends
            // correctly rounded doubles; double and float32 rounding are monotonic, so when the
            // ends round to the same float32, so does the number's own double.
            if (negative) v = -v;
          } else {
            if (significant > 15 && ++long * 4 > count + 16) return null;
            v = Number(text.slice(tokenStart, pos));
          }
          if (isBool && v !== 0 && v !== 1) return undefined;
        }
      } else if (isBool && c === 116 && text.startsWith('true', pos)) {
        v = 1;
        pos += 4;
      } else if (isBool && c === 102 && text.startsWith('false', pos)) {
        v = 0;
        pos += 5;
      } else {
        return undefined;
      }
      if (count === out.length) {
        const grown = new Ctor(out.length * 2) as Out;
        grown.set(out as never);
        out = grown;
        if (halves) words = new Int32Array(out.buffer);
      }
      if (wide) {
        if (big !== undefined || !words) (out as BigInt64Array)[count] = big ?? BigInt(v);
        else {
          words[2 * count] = v >>> 0;
          words[2 * count + 1] = Math.floor(v / 4294967296);
        }
      } else {
        out[count] = v;
        if (!isInteger && !Number.isFinite(out[count]!)) return undefined; // overflowed the type
      }
      count++;
    }
    // After a value: a separator, or the end of one or more arrays.
    for (;;) {
      pos = skipSpace(text, pos);
      if (depth === 0) return pos === end ? (count === out.length ? out : out.slice(0, count)) : undefined;
      c = text.charCodeAt(pos);
      if (c === 44) {
        pos++;
        break;
      }
      if (c !== 93) return undefined;
      pos++;
      depth--;
    }
  }
}

/**
 * FP32/FP64 data already parsed by JSON.parse (nested arrays of numbers) into a typed array in
 * one tight pass, or undefined when it is not the plain valid case (a non-number, a value the
 * type cannot hold, more elements than the shape declares, nesting past the limit).
 */
export function floatsFromParsed(data: unknown, datatype: 'FP32' | 'FP64', expected: number): Float32Array | Float64Array | undefined {
  if (!Array.isArray(data)) return undefined;
  const out = datatype === 'FP32' ? new Float32Array(expected) : new Float64Array(expected);
  let count = 0;
  const arrays: unknown[][] = [data];
  const next: number[] = [0];
  while (arrays.length > 0) {
    const top = arrays.length - 1;
    const array = arrays[top]!;
    let i = next[top]!;
    const n = array.length;
    for (; i < n; i++) {
      const v = array[i];
      if (typeof v !== 'number') break;
      if (count === expected) return undefined;
      out[count++] = v;
    }
    if (i === n) {
      arrays.pop();
      next.pop();
      continue;
    }
    const v = array[i];
    if (!Array.isArray(v) || arrays.length >= MAX_DEPTH) return undefined;
    next[top] = i + 1;
    arrays.push(v);
    next.push(0);
  }
  for (let i = 0; i < count; i++) if (!Number.isFinite(out[i]!)) return undefined;
  return count === expected ? out : out.slice(0, count);
}
