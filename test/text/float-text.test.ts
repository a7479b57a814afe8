import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bfloat16, bfloat16Text, float16, float16Text, float32Decimal, float32Text } from '../../src/text/float-text.js';
import { JsonTextWriter, ResponseTooLargeError, writeTensorJson } from '../../src/text/tensor-json.js';
import { NO_PYTHON, python } from '../onnx/helpers.js';
import { xorshift32 } from '../../src/util/random.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (bits: number): number => {
  u32[0] = bits;
  return f32[0]!;
};
const bitsOf = (x: number): number => {
  f32[0] = x;
  return u32[0]!;
};

/** xorshift32: a fixed, reproducible stream of bit patterns. */
function* patterns(count: number, seed = 0x9e3779b9): Generator<number> {
  const next = xorshift32(seed);
  for (let i = 0; i < count; i++) yield next();
}

/** Significant digits of a number's text (no sign, point, exponent or leading/trailing zeros). */
function significant(text: string): string {
  return text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
}

/** Every edge the formatter has: powers of two, subnormals, extremes, zeros, decade boundaries. */
function edgePatterns(): number[] {
  const out: number[] = [0, 0x80000000, 1, 2, 3, 0x7fffff, 0x800000, 0x7f7fffff, 0x7f7ffffe, 0x00400000, 0x3f800000, 0x3f800001, 0x3f7fffff];
  for (let e = 0; e < 255; e++) for (const m of [0, 1, 2, 0x7fffff, 0x7ffffe, 0x400000, 0x3fffff, 0x555555]) out.push(((e << 23) | m) >>> 0);
  for (let k = -45; k <= 38; k++) {
    const b = bitsOf(10 ** k);
    for (let d = -3; d <= 3; d++) if (b + d > 0 && b + d < 0x7f800000) out.push(b + d);
  }
  return [...out, ...out.map((b) => (b | 0x80000000) >>> 0)];
}

describe('shortest float32 text', () => {
  test('known texts', () => {
    assert.equal(float32Text(Math.fround(-1.6852866411209106)), '-1.6852866');
    assert.equal(float32Text(1e-45), '1e-45'); // the smallest subnormal
    assert.equal(float32Text(fromBits(0x7f7fffff)), '3.4028235e+38'); // FLT_MAX
    assert.equal(float32Text(fromBits(0x00800000)), '1.1754944e-38'); // FLT_MIN
    assert.equal(float32Text(Math.fround(0.1)), '0.1');
    assert.equal(float32Text(16777216), '16777216');
    assert.equal(float32Text(Math.fround(123456789)), '123456790');
    assert.equal(float32Text(1e21), '1e+21');
    assert.equal(float32Text(Math.fround(1e-7)), '1e-7');
    assert.equal(float32Text(Math.fround(0.000001)), '0.000001');
    assert.equal(float32Text(0), '0');
    assert.equal(float32Text(-0), '-0.0');
    // Ryu's shortest, 7.038531e-26, lands on the midpoint once parsed to a double (found by the
    // exhaustive run): a text that reads back right both through a double and directly instead.
    assert.equal(float32Text(fromBits(0x15ae43fd)), '7.0385307e-26');
    assert.equal(float32Text(fromBits(0x15ae43fe)), '7.0385313e-26'); // 7.038531e-26 is ambiguous between parsers
    assert.equal(float32Text(NaN), 'null');
    assert.equal(float32Text(-Infinity), 'null');
  });

  test('edges and 2 million random patterns parse back to the same bits', () => {
    let checked = 0;
    const check = (bits: number): void => {
      const x = fromBits(bits);
      if (!Number.isFinite(x)) return;
      const text = float32Text(x);
      const back = Math.fround(Number(text));
      if (bitsOf(back) !== bits) assert.fail(`${bits.toString(16)}: ${text} reads back as ${back}, not ${x}`);
      checked++;
    };
    for (const b of edgePatterns()) check(b);
    for (const b of patterns(2_000_000)) check(b);
    assert.ok(checked > 1_990_000);
  });

  test('no shorter decimal round-trips (toPrecision as an independent oracle)', () => {
    const check = (bits: number): void => {
      const x = fromBits(bits);
      if (!Number.isFinite(x) || x === 0) return;
      const digits = significant(float32Text(x)).length;
      for (let k = 1; k < digits; k++) {
        const shorter = x.toPrecision(k);
        if (Math.fround(Number(shorter)) === x) assert.fail(`${x}: ${float32Text(x)} but ${shorter} also reads back`);
      }
    };
    for (const b of edgePatterns()) check(b);
    for (const b of patterns(200_000, 12345)) check(b);
  });

  test('numpy reads every text back as the same float32, and its shortest digits are ours', { skip: NO_PYTHON }, () => {
    const bits = [...edgePatterns(), ...patterns(100_000, 777)].filter((b) => Number.isFinite(fromBits(b)));
    const lines = bits.map((b) => `${b} ${float32Text(fromBits(b))}`).join('\n');
    const report = python(`
import sys, numpy as np
bad = []
for line in sys.stdin:
    b, text = line.split()
    want = np.array([int(b)], dtype=np.uint32)
    got = np.array([np.float32(text)], dtype=np.float32).view(np.uint32)
    if got[0] != want[0]:
        bad.append('parse ' + line.strip()); continue
    x = want.view(np.float32)[0]
    ref = np.format_float_scientific(x, unique=True).split('e')[0].lstrip('-').replace('.', '').strip('0')
    ours = text.lstrip('-').split('e')[0].replace('.', '').strip('0')
    if ref != ours and not (ref in ('', '0') and ours in ('', '0')):
        bad.append('digits ' + line.strip() + ' numpy ' + np.format_float_scientific(x, unique=True))
print(len(bad)); print('\\n'.join(bad[:10]))
`, [], lines);
    assert.equal(report.split('\n')[0], '0', report);
  });

  test('float32Decimal gives digits × 10^exponent', () => {
    assert.deepEqual(float32Decimal(bitsOf(Math.fround(0.3))), { digits: 3, exponent: -1 });
    assert.equal(float32Decimal(0x7f800000), undefined);
  });
});

/** The nearest pattern to x by brute force over the neighbours: an oracle independent of round(). */
function nearestIs(value: (bits: number) => number, bits: number, x: number): boolean {
  const v = value(bits);
  const d = Math.abs(x - v);
  for (const n of [bits - 1, bits + 1]) {
    if (n < 0 || (n & 0x7fff) === 0 && (bits & 0x7fff) !== 1) continue;
    const w = value(n);
    if (!Number.isFinite(w) || Math.sign(w) !== Math.sign(v) && w !== 0) continue;
    const e = Math.abs(x - w);
    if (e < d || (e === d && (bits & 1) === 1)) return false;
  }
  return true;
}

describe('shortest float16 and bfloat16 text', () => {
  for (const [name, format, text] of [['float16', float16, float16Text], ['bfloat16', bfloat16, bfloat16Text]] as const) {
    test(`every ${name} pattern: parses back to the nearest pattern, and no shorter text does`, () => {
      for (let bits = 0; bits < 0x10000; bits++) {
        const v = format.value(bits);
        const t = text(bits);
        if (!Number.isFinite(v)) {
          assert.equal(t, 'null');
          continue;
        }
        const x = Number(t);
        assert.equal(format.round(x), bits, `${name} ${bits.toString(16)}: ${t}`);
        if (v !== 0) {
          assert.ok(nearestIs(format.value, bits & 0x7fff, Math.abs(x)), `${name} ${bits.toString(16)}: ${t} is nearer another pattern`);
          const digits = significant(t).length;
          for (let k = 1; k < digits; k++) assert.notEqual(format.round(Number(v.toPrecision(k))), bits, `${name} ${t}: ${v.toPrecision(k)} is shorter`);
        }
      }
    });
  }

  test('numpy reads every float16 text back as the same half, and its shortest digits are ours', { skip: NO_PYTHON }, () => {
    const lines: string[] = [];
    for (let bits = 0; bits < 0x10000; bits++) if (Number.isFinite(float16.value(bits))) lines.push(`${bits} ${float16Text(bits)}`);
    const report = python(`
import sys, numpy as np
bad = []
for line in sys.stdin:
    b, text = line.split()
    h = np.array([int(b)], dtype=np.uint16).view(np.float16)[0]
    if np.array([np.float16(float(text))]).view(np.uint16)[0] != int(b):
        bad.append('parse ' + line.strip()); continue
    ref = np.format_float_scientific(h, unique=True).split('e')[0].lstrip('-').replace('.', '').strip('0')
    ours = text.lstrip('-').split('e')[0].replace('.', '').strip('0')
    if ref != ours and not (ref in ('', '0') and ours in ('', '0')):
        bad.append('digits ' + line.strip() + ' numpy ' + np.format_float_scientific(h, unique=True))
print(len(bad)); print('\\n'.join(bad[:10]))
`, [], lines.join('\n'));
    assert.equal(report.split('\n')[0], '0', report);
  });
});

describe('tensor JSON writer', () => {
  const render = (datatype: string, data: never, dims: number[], limit = 1 << 20, rows?: number[]): string => {
    const w = new JsonTextWriter(limit, 8);
    writeTensorJson(w, datatype, data, 0, dims, rows);
    return Buffer.from(w.finish()).toString('utf8');
  };

  test('each datatype, exact 64-bit integers, null for non-finite, -0.0', () => {
    assert.equal(render('FP32', Float32Array.from([1.5, -0, NaN, Infinity, Math.fround(0.1)]) as never, [5]), '[1.5,-0.0,null,null,0.1]');
    assert.equal(render('FP64', Float64Array.from([0.1, -0, NaN, 1e300]) as never, [4]), '[0.1,-0.0,null,1e+300]');
    assert.equal(render('INT64', BigInt64Array.from([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n]) as never, [3]), '[9223372036854775807,-9223372036854775808,9007199254740993]');
    assert.equal(render('UINT64', BigUint64Array.from([2n ** 64n - 1n]) as never, [1]), '[18446744073709551615]');
    assert.equal(render('INT32', Int32Array.from([-2147483648, 0, 2147483647]) as never, [3]), '[-2147483648,0,2147483647]');
    assert.equal(render('UINT32', Uint32Array.from([4294967295]) as never, [1]), '[4294967295]');
    assert.equal(render('BOOL', Uint8Array.from([1, 0]) as never, [2]), '[true,false]');
    assert.equal(render('BYTES', ['a"b', 'grüße ✓', ''] as never, [3]), JSON.stringify(['a"b', 'grüße ✓', '']));
    assert.equal(render('FP16', Uint16Array.from([0x3c00, 0x7bff, 0x3555]) as never, [3]), '[1,65500,0.3333]');
  });

  test('nesting by shape, row ranges, empty dimensions', () => {
    const data = Int32Array.from([1, 2, 3, 4, 5, 6]) as never;
    assert.equal(render('INT32', data, [2, 3]), '[[1,2,3],[4,5,6]]');
    assert.equal(render('INT32', data, [3, 1, 2]), '[[[1,2]],[[3,4]],[[5,6]]]');
    assert.equal(render('INT32', data, []), '1');
    assert.equal(render('INT32', data, [2, 0]), '[[],[]]');
    const rows: number[] = [];
    const text = render('INT32', data, [2, 3], 1 << 20, rows);
    assert.deepEqual([text.slice(rows[0], rows[1]), text.slice(rows[2], rows[3])], ['[1,2,3]', '[4,5,6]']);
    const flatRows: number[] = [];
    const flat = render('INT32', data, [6], 1 << 20, flatRows);
    assert.equal(flat.slice(flatRows[8], flatRows[9]), '5');
  });

  test('past the limit the writer stops with ResponseTooLargeError', () => {
    const big = new Float32Array(100_000).fill(Math.fround(1.2345678));
    assert.throws(() => render('FP32', big as never, [100_000], 50_000), ResponseTooLargeError);
    assert.equal(render('FP32', big.subarray(0, 10) as never, [10], 50_000).length, 10 * 10 + 1);
  });
});
