/**
 * Shortest exact decimal text for binary floats: the fewest significant digits that parse back
 * to the same float32 (or float16 / bfloat16), and of those the one nearest the exact value.
 * For float32 the text reads back exactly both through a double (`Math.fround(Number(text))`,
 * `np.float32(float(text))`) and through a correctly rounding float32 parser, bit for bit.
 *
 * float32 is the hot path of every JSON answer, so its core is a hand-written port of the Ryu
 * algorithm (Ulf Adams, PLDI 2018) to float64 arithmetic: Ryu needs 32×64-bit products, which
 * are done here in 16-bit limbs so every intermediate stays an exact integer below 2^53. The
 * 16-bit formats have only 65536 values each; their text is found once per value by testing
 * the correctly rounded k-digit decimals and their neighbours, and then cached.
 *
 * Text follows JavaScript's number formatting (positional for 1e-7 ≤ |x| < 1e21, else
 * `1.5e-8`), so it is what `JSON.stringify` would write given the shortest digits. Negative
 * zero is `-0.0` (a bare `-0` is an integer zero to Python's json module). Non-finite values
 * are not numbers in JSON: callers decide (berth writes `null`).
 *
 * A leaf module: no berth imports, so the worker threads (runtime/) and front ends share it.
 */

const POW5_INV_BITCOUNT = 59;
const POW5_BITCOUNT = 61;

/** ceil(log2(5^e)) for e > 0, 1 for e = 0. */
function pow5bits(e: number): number {
  return ((e * 1217359) >>> 19) + 1;
}
/** floor(log10(2^e)) */
function log10Pow2(e: number): number {
  return (e * 78913) >>> 18;
}
/** floor(log10(5^e)) */
function log10Pow5(e: number): number {
  return (e * 732923) >>> 20;
}

/** 64-bit multipliers as four 16-bit limbs, least significant first. */
function limbs(values: bigint[]): Float64Array {
  const out = new Float64Array(values.length * 4);
  values.forEach((v, i) => {
    for (let k = 0; k < 4; k++) out[i * 4 + k] = Number((v >> BigInt(16 * k)) & 0xffffn);
  });
  return out;
}

/** POW5_INV[q] = floor(2^(pow5bits(q) - 1 + 59) / 5^q) + 1: 1/5^q scaled to 59 bits, rounded up. */
const POW5_INV = limbs(Array.from({ length: 31 }, (_, q) => (1n << BigInt(pow5bits(q) - 1 + POW5_INV_BITCOUNT)) / 5n ** BigInt(q) + 1n));
/** POW5[i] = 5^i scaled to exactly 61 bits (truncated). */
const POW5 = limbs(Array.from({ length: 47 }, (_, i) => {
  const p = 5n ** BigInt(i);
  const shift = pow5bits(i) - POW5_BITCOUNT;
  return shift >= 0 ? p >> BigInt(shift) : p << BigInt(-shift);
}));
/** 2^-(s) for s = 0..63, for the final shift. */
const INV_POW2 = Float64Array.from({ length: 64 }, (_, s) => 2 ** -s);

/**
 * floor(m × table[index] / 2^shift) exactly, for m < 2^27 and 48 ≤ shift < 112. The product is
 * built limb by limb with carries, so each partial stays below 2^45.
 */
function mulShift(m: number, table: Float64Array, index: number, shift: number): number {
  const b = index * 4;
  const t0 = m * table[b]!;
  const t1 = m * table[b + 1]! + Math.floor(t0 / 65536);
  const t2 = m * table[b + 2]! + Math.floor(t1 / 65536);
  const t3 = m * table[b + 3]! + Math.floor(t2 / 65536);
  // t3 = floor(m × factor / 2^48); the rest of the shift divides by a power of two exactly.
  return Math.floor(t3 * INV_POW2[shift - 48]!);
}

function pow5Factor(value: number): number {
  let count = 0;
  while (value > 0 && value % 5 === 0) {
    value /= 5;
    count++;
  }
  return count;
}

/** Digits and exponent: value = digits × 10^exponent, digits without trailing zeros not guaranteed. */
export interface Decimal {
  digits: number;
  exponent: number;
}

/** ryu32's answer, with the interval's ends at the answer's scale (for the double-rounding check). */
const scratch = { digits: 0, exponent: 0, vp: 0, vm: 0 };

/**
 * Ryu's shortest decimal for a finite, non-zero float32 given by its exponent and mantissa
 * fields. Writes into (and returns) a shared scratch object: callers copy what they keep.
 */
function ryu32(ieeeExponent: number, ieeeMantissa: number): typeof scratch {
  let e2: number;
  let m2: number;
  if (ieeeExponent === 0) {
    e2 = 1 - 127 - 23 - 2;
    m2 = ieeeMantissa;
  } else {
    e2 = ieeeExponent - 127 - 23 - 2;
    m2 = ieeeMantissa + 0x800000;
  }
  const even = (m2 & 1) === 0;
  const acceptBounds = even;
  // The rounding interval [mm, mp] around mv, all scaled by 4 so they stay integers.
  const mv = 4 * m2;
  const mp = 4 * m2 + 2;
  const mmShift = ieeeMantissa !== 0 || ieeeExponent <= 1 ? 1 : 0;
  const mm = 4 * m2 - 1 - mmShift;

  let vr: number;
  let vp: number;
  let vm: number;
  let e10: number;
  let vmIsTrailingZeros = false;
  let vrIsTrailingZeros = false;
  let lastRemovedDigit = 0;
  if (e2 >= 0) {
    const q = log10Pow2(e2);
    e10 = q;
    const k = POW5_INV_BITCOUNT + pow5bits(q) - 1;
    const i = -e2 + q + k;
    vr = mulShift(mv, POW5_INV, q, i);
    vp = mulShift(mp, POW5_INV, q, i);
    vm = mulShift(mm, POW5_INV, q, i);
    if (q !== 0 && (((vp - 1) / 10) >>> 0) <= ((vm / 10) >>> 0)) {
      // The loop below removes at least one digit: we need the one removed from vr.
      const l = POW5_INV_BITCOUNT + pow5bits(q - 1) - 1;
      lastRemovedDigit = mulShift(mv, POW5_INV, q - 1, -e2 + q - 1 + l) % 10;
    }
    if (q <= 9) {
      // Only one of mp, mv, mm can be a multiple of 5, if any.
      if (mv % 5 === 0) vrIsTrailingZeros = pow5Factor(mv) >= q;
      else if (acceptBounds) vmIsTrailingZeros = pow5Factor(mm) >= q;
      else vp -= pow5Factor(mp) >= q ? 1 : 0;
    }
  } else {
    const q = log10Pow5(-e2);
    e10 = q + e2;
    const i = -e2 - q;
    const k = pow5bits(i) - POW5_BITCOUNT;
    let j = q - k;
    vr = mulShift(mv, POW5, i, j);
    vp = mulShift(mp, POW5, i, j);
    vm = mulShift(mm, POW5, i, j);
    if (q !== 0 && (((vp - 1) / 10) >>> 0) <= ((vm / 10) >>> 0)) {
      j = q - 1 - (pow5bits(i + 1) - POW5_BITCOUNT);
      lastRemovedDigit = mulShift(mv, POW5, i + 1, j) % 10;
    }
    if (q <= 1) {
      // mv has at least q trailing zero bits, so vr is exact: 'trailing zeros' in decimal.
      vrIsTrailingZeros = true;
      if (acceptBounds) vmIsTrailingZeros = mmShift === 1;
      else vp--;
    } else if (q < 31) {
      vrIsTrailingZeros = (mv & ((1 << (q - 1)) - 1)) === 0;
    }
  }

  // Remove digits while the interval still holds a shorter number.
  let removed = 0;
  let output: number;
  if (vmIsTrailingZeros || vrIsTrailingZeros) {
    for (;;) {
      const vpDiv10 = ((vp / 10) >>> 0);
      const vmDiv10 = ((vm / 10) >>> 0);
      if (vpDiv10 <= vmDiv10) break;
      const vrDiv10 = ((vr / 10) >>> 0);
      vmIsTrailingZeros &&= vm - vmDiv10 * 10 === 0;
      vrIsTrailingZeros &&= lastRemovedDigit === 0;
      lastRemovedDigit = vr - vrDiv10 * 10;
      vr = vrDiv10;
      vp = vpDiv10;
      vm = vmDiv10;
      removed++;
    }
    if (vmIsTrailingZeros) {
      for (;;) {
        const vmDiv10 = ((vm / 10) >>> 0);
        if (vm - vmDiv10 * 10 !== 0) break;
        const vrDiv10 = ((vr / 10) >>> 0);
        vrIsTrailingZeros &&= lastRemovedDigit === 0;
        lastRemovedDigit = vr - vrDiv10 * 10;
        vr = vrDiv10;
        vp = ((vp / 10) >>> 0);
        vm = vmDiv10;
        removed++;
      }
    }
    // Exactly halfway with an even last digit: round to even.
    if (vrIsTrailingZeros && lastRemovedDigit === 5 && vr % 2 === 0) lastRemovedDigit = 4;
    output = vr + (((vr === vm && (!acceptBounds || !vmIsTrailingZeros)) || lastRemovedDigit >= 5) ? 1 : 0);
  } else {
    for (;;) {
      const vpDiv10 = ((vp / 10) >>> 0);
      const vmDiv10 = ((vm / 10) >>> 0);
      if (vpDiv10 <= vmDiv10) break;
      const vrDiv10 = ((vr / 10) >>> 0);
      lastRemovedDigit = vr - vrDiv10 * 10;
      vr = vrDiv10;
      vp = vpDiv10;
      vm = vmDiv10;
      removed++;
    }
    output = vr + (vr === vm || lastRemovedDigit >= 5 ? 1 : 0);
  }
  scratch.digits = output;
  scratch.exponent = e10 + removed;
  scratch.vp = vp;
  scratch.vm = vm;
  return scratch;
}

/** Number of decimal digits of a non-negative integer below 10^17. */
function digitCount(v: number): number {
  if (v < 1e5) return v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 1e4 ? 4 : 5;
  if (v < 1e9) return v < 1e6 ? 6 : v < 1e7 ? 7 : v < 1e8 ? 8 : 9;
  let n = 10;
  for (let p = 1e10; v >= p && n < 17; p *= 10) n++;
  return n;
}

const ZERO = 48;
const MINUS = 45;
const DOT = 46;
const LETTER_E = 101;
const PLUS = 43;

/**
 * Writes `±digits × 10^exponent` the way JavaScript writes numbers. `out` must have room for
 * 26 bytes from `pos`. Returns the position after the text.
 */
export function writeDecimal(out: Uint8Array, pos: number, negative: boolean, digits: number, exponent: number): number {
  while (digits >= 10 && digits % 10 === 0) {
    digits /= 10;
    exponent++;
  }
  if (negative) out[pos++] = MINUS;
  const k = digitCount(digits);
  const n = exponent + k; // the decimal point sits after n digits
  if (k <= n && n <= 21) {
    writeDigits(out, pos, digits, k);
    pos += k;
    for (let z = k; z < n; z++) out[pos++] = ZERO;
    return pos;
  }
  if (0 < n && n <= 21) {
    // digits with the point inside: write all, then shift the fraction right by one.
    writeDigits(out, pos, digits, k);
    for (let i = pos + k; i > pos + n; i--) out[i] = out[i - 1]!;
    out[pos + n] = DOT;
    return pos + k + 1;
  }
  if (-6 < n && n <= 0) {
    out[pos++] = ZERO;
    out[pos++] = DOT;
    for (let z = n; z < 0; z++) out[pos++] = ZERO;
    writeDigits(out, pos, digits, k);
    return pos + k;
  }
  // d[.ddd]e±x
  writeDigits(out, pos + (k > 1 ? 1 : 0), digits, k);
  if (k > 1) {
    out[pos] = out[pos + 1]!;
    out[pos + 1] = DOT;
    pos += k + 1;
  } else {
    pos += 1;
  }
  out[pos++] = LETTER_E;
  let e = n - 1;
  if (e < 0) {
    out[pos++] = MINUS;
    e = -e;
  } else {
    out[pos++] = PLUS;
  }
  const ek = digitCount(e);
  writeDigits(out, pos, e, ek);
  return pos + ek;
}

/** Writes the `count` low decimal digits of v (a non-negative integer) ending at pos + count. */
function writeDigits(out: Uint8Array, pos: number, v: number, count: number): void {
  let i = pos + count - 1;
  // Beyond int32, divide as doubles until the rest fits; then int32 arithmetic is cheaper.
  while (v > 0x7fffffff && i >= pos) {
    const q = Math.floor(v / 10);
    out[i--] = ZERO + (v - q * 10);
    v = q;
  }
  while (i >= pos) {
    const q = (v / 10) | 0;
    out[i--] = ZERO + (v - q * 10);
    v = q;
  }
}

/** Writes an integer (|v| < 2^53) in decimal. Returns the position after it. */
export function writeInteger(out: Uint8Array, pos: number, v: number): number {
  if (v < 0) {
    out[pos++] = MINUS;
    v = -v;
  }
  const k = digitCount(v);
  writeDigits(out, pos, v, k);
  return pos + k;
}

/** `-0.0`: the one zero whose sign survives every JSON parser. */
function writeNegativeZero(out: Uint8Array, pos: number): number {
  out[pos] = MINUS;
  out[pos + 1] = ZERO;
  out[pos + 2] = DOT;
  out[pos + 3] = ZERO;
  return pos + 4;
}

// --- parsing through a double -----------------------------------------------------------------
//
// Ryu's decimal is the shortest that a correctly rounding decimal → float32 parser maps back to
// x. Most JSON clients parse to a double first and round that to float32 (JavaScript's
// Float32Array, Python's np.float32(json.loads(...))): about one float32 in 400 million has a
// shortest decimal so close to the midpoint between x and its neighbour that the double lands
// exactly on the midpoint, and the second rounding (ties to even) goes the wrong way, e.g.
// 7.038531e-26 for 0x15ae43fd. Such values get the shortest decimal that reads back right both
// ways (found slowly; it is rare).

const POW10 = Float64Array.from({ length: 23 }, (_, k) => 10 ** k); // exact doubles
const POW2_FLOAT = Float64Array.from({ length: 256 }, (_, e) => 2 ** (Math.max(e, 1) - 150));

/** Whether the scratch decimal, read as a double and rounded to float32, gives x back. */
function survivesDoubleParse(ieeeExponent: number, ieeeMantissa: number): boolean {
  const digits = scratch.digits;
  const e = scratch.exponent;
  const x = (ieeeExponent === 0 ? ieeeMantissa : ieeeMantissa + 0x800000) * POW2_FLOAT[ieeeExponent]!;
  let v: number;
  // digits < 2^53 and 10^k (k ≤ 22) are exact doubles, so one multiply or divide is the correctly
  // rounded value of the decimal: exactly what a parser's double is (Clinger's fast path).
  if (e >= 0 && e <= 22) v = digits * POW10[e]!;
  else if (e < 0 && e >= -22) v = digits / POW10[-e]!;
  else {
    // At least one unit of the last digit from both ends of the interval: far from the midpoints.
    if (digits < scratch.vp && digits > scratch.vm + 1) return true;
    v = Number(`${digits}e${e}`);
  }
  return Math.fround(v) === x;
}

/** The exact value of a finite double as numerator / denominator (a power of two). */
function rational(x: number): [bigint, bigint] {
  let den = 1n;
  while (!Number.isInteger(x)) {
    x *= 2;
    den *= 2n;
  }
  return [BigInt(x), den];
}

/** Whether a correctly rounding (ties-to-even) parser maps digits × 10^exponent to the positive float32 `bits`. */
export function roundsTo(bits: number, digits: number, exponent: number): boolean {
  const value = (b: number): number => {
    u32[0] = b;
    return f32[0]!;
  };
  const x = value(bits);
  const below = bits === 0 ? -value(1) : value(bits - 1);
  const above = bits === 0x7f7fffff ? x + (x - below) : value(bits + 1);
  const [cn, cd] = exponent >= 0 ? [BigInt(digits) * 10n ** BigInt(exponent), 1n] : [BigInt(digits), 10n ** BigInt(-exponent)];
  const even = (bits & 1) === 0;
  // compare c with (a + b) / 2 for the two midpoints
  const side = (a: number): number => {
    const [an, ad] = rational(a);
    const [xn, xd] = rational(x);
    const mn = an * xd + xn * ad;
    const md = 2n * ad * xd;
    const l = cn * md;
    const r = mn * cd;
    return l < r ? -1 : l > r ? 1 : 0;
  };
  const lo = side(below);
  const hi = side(above);
  return (lo > 0 || (lo === 0 && even)) && (hi < 0 || (hi === 0 && even));
}

/**
 * The shortest decimal that reads back as the positive float32 `bits` through a double and
 * through a correctly rounding parser alike; of equally short ones, the nearest.
 */
function parseSafeShortest(bits: number): Decimal {
  u32[0] = bits;
  const x = f32[0]!;
  const found = searchShortest(x, (v, digits, exponent) => Math.fround(v) === x && roundsTo(bits, digits, exponent));
  if (!found) throw new Error(`no decimal reads back as float32 pattern ${bits}`);
  return found;
}

/**
 * The shortest decimal `digits`e`exponent` near x that `accepts`; of equally short ones, the
 * nearest, and exactly halfway between two, the even one (as Ryu does for float32). Any k-digit
 * decimal inside a rounding interval is the correctly rounded k-digit value of x or one of its
 * two k-digit neighbours, so testing those three per k is exhaustive.
 */
function searchShortest(x: number, accepts: (value: number, digits: number, exponent: number) => boolean): Decimal | undefined {
  for (let k = 1; k <= 17; k++) {
    const [mantissa, exp] = x.toExponential(k - 1).split('e') as [string, string];
    const base = Number(mantissa.replace('.', ''));
    const exponent = Number(exp) - (k - 1);
    let best: number | undefined;
    let bestDistance = Infinity;
    for (const digits of [base, base - 1, base + 1]) {
      if (digits <= 0) continue;
      const v = Number(`${digits}e${exponent}`);
      if (!accepts(v, digits, exponent)) continue;
      const distance = Math.abs(v - x);
      if (distance < bestDistance || (distance === bestDistance && digits % 2 === 0)) {
        best = digits;
        bestDistance = distance;
      }
    }
    if (best !== undefined) return { digits: best, exponent };
  }
  return undefined;
}

/** Most bytes writeFloat32 / writeFloat16 / writeBfloat16 write for one value. */
export const MAX_FLOAT_TEXT = 26;

/**
 * Writes the shortest exact text of the float32 whose bit pattern is `bits` (an unsigned
 * 32-bit integer, e.g. from a Uint32Array over a Float32Array's buffer). Returns the new
 * position, or -1 without writing for NaN and ±Infinity.
 */
export function writeFloat32(out: Uint8Array, pos: number, bits: number): number {
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  const negative = bits >>> 31 === 1;
  if (exponent === 0xff) return -1;
  if (exponent === 0 && mantissa === 0) {
    if (negative) return writeNegativeZero(out, pos);
    out[pos] = ZERO;
    return pos + 1;
  }
  let d: Decimal = ryu32(exponent, mantissa);
  if (!survivesDoubleParse(exponent, mantissa)) d = parseSafeShortest(bits & 0x7fffffff);
  return writeDecimal(out, pos, negative, d.digits, d.exponent);
}

/** The shortest decimal of a float32, as digits × 10^exponent (for tests and other writers). */
export function float32Decimal(bits: number): Decimal | undefined {
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return undefined;
  if (exponent === 0 && mantissa === 0) return { digits: 0, exponent: 0 };
  const d = ryu32(exponent, mantissa);
  if (!survivesDoubleParse(exponent, mantissa)) return parseSafeShortest(bits & 0x7fffffff);
  return { digits: d.digits, exponent: d.exponent };
}

// --- 16-bit formats --------------------------------------------------------------------------

interface SmallFormat {
  /** exact value of a bit pattern */
  value(bits: number): number;
  /** a double rounded (to nearest, ties to even) to the format's bit pattern */
  round(x: number): number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits. */
const HALF: SmallFormat = {
  value(bits) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >>> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    if (exponent === 0) return sign * mantissa * 2 ** -24;
    if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
    return sign * (1024 + mantissa) * 2 ** (exponent - 25);
  },
  round(x) {
    const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    const a = Math.abs(x);
    if (Number.isNaN(a)) return 0x7e00;
    if (a >= 65520) return sign | 0x7c00; // 65520 is halfway to 2^16: rounds to infinity
    if (a < 2 ** -14) return sign | roundEven(a / 2 ** -24); // subnormal (may round up to the smallest normal)
    const e = Math.floor(Math.log2(a));
    const exp = a >= 2 ** (e + 1) ? e + 1 : a < 2 ** e ? e - 1 : e; // guard log2's rounding
    const m = roundEven(a / 2 ** (exp - 10)); // 1024..2048
    return sign | (((exp + 15) << 10) + (m - 1024));
  },
};

/** bfloat16: the top 16 bits of a float32. */
const BFLOAT16: SmallFormat = {
  value(bits) {
    u32[0] = bits << 16;
    return f32[0]!;
  },
  round(x) {
    // double → float32 → bfloat16 rounds twice; round from the double directly instead.
    if (Number.isNaN(x)) return 0x7fc0;
    const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    const a = Math.abs(x);
    if (a === 0) return sign;
    const e = Math.max(Math.floor(Math.log2(a)), -126);
    const exp = e > -126 && a < 2 ** e ? e - 1 : a >= 2 ** (e + 1) ? e + 1 : e;
    const step = 2 ** (exp - 7); // 8 significant bits (subnormals: a fixed step of 2^-133)
    const r = roundEven(a / step) * step;
    if (r >= 2 ** 128) return sign | 0x7f80;
    f32[0] = r; // exact: r has at most 8 significant bits
    return sign | (u32[0]! >>> 16);
  },
};

function roundEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The shortest decimal that rounds back to `bits` in `format`; of equally short ones, the nearest. */
function smallShortest(format: SmallFormat, bits: number): Decimal {
  const target = bits & 0x7fff;
  const found = searchShortest(Math.abs(format.value(bits)), (v) => format.round(v) === target);
  if (!found) throw new Error(`no decimal found for 16-bit pattern ${bits}`);
  return found;
}

function smallCache(format: SmallFormat): (bits: number) => Uint8Array | undefined {
  const cache: (Uint8Array | undefined)[] = new Array(0x10000);
  const scratchOut = new Uint8Array(MAX_FLOAT_TEXT);
  return (bits) => {
    let text = cache[bits];
    if (text === undefined) {
      const value = format.value(bits);
      if (!Number.isFinite(value)) return undefined;
      let end: number;
      if (value === 0) end = bits & 0x8000 ? writeNegativeZero(scratchOut, 0) : (scratchOut[0] = ZERO, 1);
      else {
        const d = smallShortest(format, bits);
        end = writeDecimal(scratchOut, 0, (bits & 0x8000) !== 0, d.digits, d.exponent);
      }
      text = scratchOut.slice(0, end);
      cache[bits] = text;
    }
    return text;
  };
}

const halfCache = smallCache(HALF);
const bfloat16Cache = smallCache(BFLOAT16);

function writeCached(text: Uint8Array | undefined, out: Uint8Array, pos: number): number {
  if (text === undefined) return -1;
  out.set(text, pos);
  return pos + text.length;
}

/** Like writeFloat32, for an IEEE half-precision bit pattern (0..0xffff). */
export function writeFloat16(out: Uint8Array, pos: number, bits: number): number {
  return writeCached(halfCache(bits), out, pos);
}

/** Like writeFloat32, for a bfloat16 bit pattern (0..0xffff). */
export function writeBfloat16(out: Uint8Array, pos: number, bits: number): number {
  return writeCached(bfloat16Cache(bits), out, pos);
}

/** The value of a half-precision bit pattern, and a double rounded to one (for tests and decoders). */
export const float16 = { value: HALF.value, round: HALF.round };
/** The value of a bfloat16 bit pattern, and a double rounded to one. */
export const bfloat16 = { value: BFLOAT16.value, round: BFLOAT16.round };

const textDecoder = new TextDecoder();
const textOut = new Uint8Array(MAX_FLOAT_TEXT);

/** The shortest exact text of a float32 as a string; `null` text for non-finite values. */
export function float32Text(x: number): string {
  f32[0] = x;
  const end = writeFloat32(textOut, 0, u32[0]!);
  return end < 0 ? 'null' : textDecoder.decode(textOut.subarray(0, end));
}

/** The shortest exact text of a half-precision bit pattern; `null` for non-finite values. */
export function float16Text(bits: number): string {
  const end = writeFloat16(textOut, 0, bits);
  return end < 0 ? 'null' : textDecoder.decode(textOut.subarray(0, end));
}

/** The shortest exact text of a bfloat16 bit pattern; `null` for non-finite values. */
export function bfloat16Text(bits: number): string {
  const end = writeBfloat16(textOut, 0, bits);
  return end < 0 ? 'null' : textDecoder.decode(textOut.subarray(0, end));
}
