/**
 * JSON tensor data → typed arrays (the request side). Requests may nest or flatten `data`;
 * every element is checked against the datatype, so "abc" in an FP32 tensor, 1.5 in an INT32
 * tensor or 300 in a UINT8 tensor is a 400 naming the input and the element, never a silent
 * NaN, truncation or wrap-around.
 *
 * Integers are judged by the exact decimal value the client wrote, not by the double that
 * JSON.parse would round it to: 2^53+1 in an INT64 tensor arrives as 2^53+1, and
 * 1.0000000000000001 is not an integer. Number tokens whose double could hide that difference
 * reach this module as {@link ExactNumber} (see json-exact.ts and json-scan.ts).
 *
 * Nothing here recurses on client data: nesting is walked with explicit stacks, and error
 * messages render a value without serialising nested objects, so a 100 000-deep array is a
 * 400 and not a stack overflow.
 */
import { invalidArgument } from '../core/errors.js';
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../core/json-depth.js';
import type { Datatype, NumericArray, TensorData } from '../core/tensor.js';
import { DATATYPES } from '../core/tensor.js';

/** Triton's limit on JSON nesting (HTTP_MAX_JSON_NESTING_DEPTH). */
export const MAX_DEPTH = MAX_JSON_DEPTH;

/**
 * A JSON number kept as its text, for tokens whose double is integral but may not be the value
 * written (more than 15 significant digits, or a magnitude of 2^53 or more).
 */
export class ExactNumber {
  constructor(readonly text: string) {}
  /** the double JSON.parse would give */
  get value(): number {
    return Number(this.text);
  }
}

/** The inclusive range of each integer datatype, exact. */
export const INT_RANGES: Partial<Record<Datatype, readonly [bigint, bigint]>> = {
  INT8: [-128n, 127n],
  UINT8: [0n, 255n],
  INT16: [-32768n, 32767n],
  UINT16: [0n, 65535n],
  INT32: [-2147483648n, 2147483647n],
  UINT32: [0n, 4294967295n],
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  UINT64: [0n, 2n ** 64n - 1n],
};

/** A bounded rendering of a client value for an error message (never a deep serialisation). */
export function describe(value: unknown): string {
  if (value instanceof ExactNumber) return value.text;
  if (Array.isArray(value)) return '[...]';
  if (typeof value === 'object' && value !== null) return '{...}';
  if (typeof value === 'string') return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
  if (value === undefined) return 'undefined';
  return JSON.stringify(value);
}

function tooDeep(name: string): never {
  throw invalidArgument(`input '${name}': data is nested deeper than ${MAX_DEPTH} levels`);
}

/** Flattens nested arrays in row-major order (iteratively: the nesting is the client's). */
export function flatten(data: unknown, name: string): unknown[] {
  if (!Array.isArray(data)) return [data];
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const arrays: unknown[][] = [data];
  const next: number[] = [0];
  while (arrays.length > 0) {
    const top = arrays.length - 1;
    const array = arrays[top]!;
    const i = next[top]!;
    if (i === array.length) {
      arrays.pop();
      next.pop();
      continue;
    }
    next[top] = i + 1;
    const value = array[i];
    if (Array.isArray(value)) {
      if (arrays.length >= MAX_DEPTH) tooDeep(name);
      arrays.push(value);
      next.push(0);
    } else {
      out.push(value);
    }
  }
  return out;
}

/** The shape of a rectangular nested array (a scalar has shape []), checked without recursion. */
export function nestedShape(data: unknown, name: string): number[] {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    if (shape.length >= MAX_DEPTH) tooDeep(name);
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  const ragged = (): never => {
    throw invalidArgument(`input '${name}': nested data is not rectangular`);
  };
  const values: unknown[] = [data];
  const depths: number[] = [0];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop()!;
    if (depth === shape.length) {
      if (Array.isArray(value)) ragged();
      continue;
    }
    if (!Array.isArray(value) || value.length !== shape[depth]) ragged();
    for (let i = (value as unknown[]).length - 1; i >= 0; i--) {
      values.push((value as unknown[])[i]);
      depths.push(depth + 1);
    }
  }
  return shape;
}

function bad(name: string, datatype: Datatype, index: number, value: unknown, what: string): never {
  throw invalidArgument(`input '${name}' (${datatype}) element ${index} ${what}: ${describe(value)}`);
}

/** `is not an integer in [lo, hi]`, the refusal for every integer datatype. */
export function notInRange(datatype: Datatype): string {
  const range = INT_RANGES[datatype]!;
  return `is not an integer in [${range[0]}, ${range[1]}]`;
}

/**
 * The exact integer a JSON number token denotes, or undefined when it is not an integer.
 * `outside` stands for an integer too large for any 64-bit type (checked before building a
 * BigInt, so 1e999999999 costs nothing).
 */
export function exactInteger(text: string): bigint | undefined | 'outside' {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return undefined;
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = (int! + frac).replace(/^0+/, '');
  if (digits === '') return 0n;
  // The value is digits × 10^scale.
  let scale = Number(exp) - frac.length;
  const trailing = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - trailing);
  scale += trailing;
  if (scale < 0) return undefined;
  if (digits.length + scale > 21) return 'outside'; // ≥ 10^21 > 2^64
  const magnitude = BigInt(digits) * 10n ** BigInt(scale);
  return sign === '-' ? -magnitude : magnitude;
}

/** Checks one integer element exactly; returns it as a bigint (64-bit types) or a number. */
function integerElement(name: string, datatype: Datatype, index: number, v: unknown): bigint {
  const range = INT_RANGES[datatype]!;
  let exact: bigint | undefined | 'outside';
  if (typeof v === 'number') {
    // A plain number is exact here: bigger or longer integers arrive as ExactNumber.
    exact = Number.isInteger(v) ? (Math.abs(v) < 2 ** 64 ? BigInt(v) : 'outside') : undefined;
  } else if (v instanceof ExactNumber) {
    exact = exactInteger(v.text);
  } else {
    return bad(name, datatype, index, v, 'is not a number');
  }
  if (exact === undefined || exact === 'outside' || exact < range[0] || exact > range[1]) bad(name, datatype, index, v, notInRange(datatype));
  return exact;
}

/** Converts JSON elements to the datatype's typed array (or Buffers for BYTES). */
export function fromJson(name: string, datatype: Datatype, data: unknown): TensorData {
  if (datatype === 'FP16') {
    throw invalidArgument(`input '${name}': receiving FP16 data via JSON is not supported; use the binary tensor data extension`);
  }
  const values = flatten(data, name);
  const n = values.length;
  if (datatype === 'BYTES') {
    const out: Buffer[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v !== 'string') bad(name, datatype, i, v, 'is not a string');
      out[i] = Buffer.from(v, 'utf8');
    }
    return out;
  }
  if (datatype === 'BOOL') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === true || v === 1) out[i] = 1;
      else if (v !== false && v !== 0) bad(name, datatype, i, v, 'is not a boolean');
    }
    return out;
  }
  if (datatype === 'INT64' || datatype === 'UINT64') {
    const out = datatype === 'INT64' ? new BigInt64Array(n) : new BigUint64Array(n);
    for (let i = 0; i < n; i++) out[i] = integerElement(name, datatype, i, values[i]);
    return out;
  }
  const Ctor = DATATYPES[datatype].array!;
  const out = new Ctor(n) as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
  if (INT_RANGES[datatype]) {
    for (let i = 0; i < n; i++) {
      const v = values[i];
      out[i] = typeof v === 'number' && Number.isInteger(v) ? integerOrBad(name, datatype, i, v) : Number(integerElement(name, datatype, i, v));
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const x = typeof v === 'number' ? v : v instanceof ExactNumber ? v.value : bad(name, datatype, i, v, 'is not a number');
    out[i] = x;
    // A finite number the datatype cannot hold (1e39 in FP32, 1e400 in FP64) is refused, not
    // turned into infinity; NaN and infinities have no JSON spelling.
    if (!Number.isFinite(out[i]!)) bad(name, datatype, i, v, `is out of range for ${datatype}`);
  }
  return out;
}

/** The fast path of a small integer element: a range check on the double, which is exact. */
function integerOrBad(name: string, datatype: Datatype, index: number, v: number): number {
  const range = INT_RANGES[datatype]!;
  if (v < Number(range[0]) || v > Number(range[1])) bad(name, datatype, index, v, notInRange(datatype));
  return v;
}

/** Refuses (400) a request body nested deeper than Triton's limit. */
export function checkBodyDepth(value: unknown, what = 'request body'): void {
  if (nestedDeeperThan(value, MAX_DEPTH)) throw invalidArgument(`${what} is nested deeper than ${MAX_DEPTH} levels`);
}
