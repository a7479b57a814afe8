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
 * rare double-rounding cases.
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

/** The end of the (syntactically plausible) value at `pos`; strings and brackets tracked. */
function skipValue(text: string, pos: number): number {
  let depth = 0;
  const n = text.length;
  while (pos < n) {
    const c = text.charCodeAt(pos);
    if (c === 34) {
      pos = stringEnd(text, pos).end;
      if (depth === 0) return pos;
      continue;
    }
    if (c === 91 || c === 123) depth++;
    else if (c === 93 || c === 125) {
      if (depth === 0) return pos;
      depth--;
      if (depth === 0) return pos + 1;
    } else if (depth === 0 && (c === 44 || c === 32 || c === 10 || c === 13 || c === 9)) return pos;
    pos++;
  }
  return pos;
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

/**
 * Converts one data value (text[start, end)) for a numeric or BOOL datatype, or returns
 * undefined when it is not the plain valid case (the caller then takes the general path).
 * `expected` (the element count of the declared shape) sizes the array.
 */
export function scanNumericData(text: string, start: number, end: number, datatype: Datatype, expected: number): NumericArray | undefined {
  if (datatype === 'BYTES' || datatype === 'FP16') return undefined;
  const range = INT_RANGES[datatype];
  const isInteger = range !== undefined;
  const wide = datatype === 'INT64' || datatype === 'UINT64';
  const lo = range ? Number(range[0]) : 0;
  const hi = range ? Number(range[1]) : 0;
  const isBool = datatype === 'BOOL';
  const Ctor = DATATYPES[datatype].array!;
  let out = new Ctor(Math.max(1, Math.min(expected, ((end - start) >> 1) + 1))) as Out;
  let count = 0;
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
        let mantissa = 0;
        let significant = 0;
        let fraction = 0;
        let simple = true; // no point, no exponent
        if (c === 48) {
          c = text.charCodeAt(++pos);
        } else if (c >= 49 && c <= 57) {
          do {
            mantissa = mantissa * 10 + (c - 48);
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
              mantissa = mantissa * 10 + (c - 48);
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
          const scale = exponent - fraction;
          if (significant <= 15 && scale >= -22 && scale <= 22) {
            v = scale === 0 ? mantissa : scale > 0 ? mantissa * POW10[scale]! : mantissa / POW10[-scale]!;
            if (negative) v = -v;
          } else {
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
      }
      if (wide) (out as BigInt64Array)[count] = big ?? BigInt(v);
      else {
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
