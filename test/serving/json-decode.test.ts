/**
 * Decoding JSON tensor data (issues #15 classes 5 and 6, #16 item 3): exact integers, refusal
 * of values a datatype cannot hold, no recursion on client nesting, and the fast scanner giving
 * the same arrays as the general path. Golden values come from Python's json + numpy or from
 * BigInt literals written here, not from berth.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { decodeInferRequest } from '../../src/http/v2-codec.js';
import { decodePredictRequest } from '../../src/http/v1-codec.js';
import { ExactNumber, exactInteger, fromJson } from '../../src/http/json-decode.js';
import { parseJsonExact } from '../../src/http/json-exact.js';
import type { Datatype, TensorData } from '../../src/core/tensor.js';
import type { TensorMetadata } from '../../src/core/types.js';

function body(datatype: string, data: string, shape: number[] = [3]): Buffer {
  return Buffer.from(`{"inputs":[{"name":"x","shape":${JSON.stringify(shape)},"datatype":"${datatype}","data":${data}}]}`);
}

function decode(datatype: string, data: string, shape?: number[]): TensorData {
  return decodeInferRequest(body(datatype, data, shape), undefined, 'm', undefined, () => []).inputs[0]!.data;
}

function refusal(datatype: string, data: string, shape?: number[]): string {
  try {
    decode(datatype, data, shape);
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'INVALID_ARGUMENT', String(err));
    return (err as Error).message;
  }
  assert.fail(`${datatype} ${data} was accepted`);
}

const meta = (datatype: Datatype): TensorMetadata[] => [{ name: 'x', datatype, shape: [-1, 3] }];

describe('JSON integers are exact', () => {
  test('INT64 max, min and 2^53+1 arrive exact (JSON.parse would round them)', () => {
    const data = decode('INT64', '[9223372036854775807, -9223372036854775808, 9007199254740993]');
    assert.deepEqual(data, new BigInt64Array([9223372036854775807n, -9223372036854775808n, 9007199254740993n]));
  });

  test('UINT64 max arrives exact', () => {
    assert.deepEqual(decode('UINT64', '[18446744073709551615, 9007199254740993, 0]'), new BigUint64Array([18446744073709551615n, 9007199254740993n, 0n]));
  });

  test('integral floats and exponents are accepted when their exact value is an integer in range', () => {
    assert.deepEqual(decode('INT64', '[3.0, 1e3, -0]'), new BigInt64Array([3n, 1000n, 0n]));
    assert.deepEqual(decode('INT64', '[92233720368547758.07e2, 1.5e1, -2.50e1]', [3]), new BigInt64Array([9223372036854775807n, 15n, -25n]));
    assert.deepEqual(decode('INT32', '[2147483647, -2147483648, 0.0]'), new Int32Array([2147483647, -2147483648, 0]));
    assert.deepEqual(decode('UINT8', '[255, 2.55e2, 0]'), new Uint8Array([255, 255, 0]));
  });

  test('V1 bodies for integer models are exact too', () => {
    const tensors = decodePredictRequest(Buffer.from('{"instances": [[9223372036854775807, -9223372036854775808, 9007199254740993]]}'), meta('INT64'));
    assert.deepEqual(tensors[0]!.data, new BigInt64Array([9223372036854775807n, -9223372036854775808n, 9007199254740993n]));
    assert.deepEqual(tensors[0]!.shape, [1, 3]);
  });

  test('V1 rows that are bare big integers are values, not objects', () => {
    const scalars: TensorMetadata[] = [{ name: 'x', datatype: 'UINT64', shape: [-1] }];
    const tensors = decodePredictRequest(Buffer.from('{"instances": [18446744073709551615, 9007199254740993, 1]}'), scalars);
    assert.deepEqual(tensors[0]!.data, new BigUint64Array([18446744073709551615n, 9007199254740993n, 1n]));
    const columnar = decodePredictRequest(Buffer.from('{"inputs": {"x": [9007199254740993]}}'), scalars);
    assert.deepEqual(columnar[0]!.data, new BigUint64Array([9007199254740993n]));
  });

  test('exactInteger reads the decimal value, not a double', () => {
    assert.equal(exactInteger('9007199254740993'), 9007199254740993n);
    assert.equal(exactInteger('-0.000'), 0n);
    assert.equal(exactInteger('1.0000000000000001'), undefined);
    assert.equal(exactInteger('12345678901234567e2'), 1234567890123456700n);
    assert.equal(exactInteger('1e999999999'), 'outside');
    assert.equal(exactInteger('1e-999999999'), undefined);
  });
});

describe('values a datatype cannot hold are a 400 naming the input and element', () => {
  const cases: [string, string, RegExp][] = [
    ['INT64', '[0, 1e300, 1]', /^input 'x' \(INT64\) element 1 is not an integer in \[-9223372036854775808, 9223372036854775807\]: 1e300$/],
    ['INT64', '[0, 1, 9223372036854775808]', /element 2 is not an integer in/],
    ['INT64', '[0, 1, -9223372036854775809]', /element 2 is not an integer in/],
    ['INT64', '[1.0000000000000001, 0, 1]', /element 0 is not an integer in .*: 1\.0000000000000001$/],
    ['INT32', '[0, 1.5, 1]', /^input 'x' \(INT32\) element 1 is not an integer in \[-2147483648, 2147483647\]: 1\.5$/],
    ['INT32', '[0, 1, 2147483648]', /element 2 is not an integer in/],
    ['UINT8', '[0, 300, 1]', /^input 'x' \(UINT8\) element 1 is not an integer in \[0, 255\]: 300$/],
    ['UINT8', '[-1, 3, 1]', /element 0 is not an integer in \[0, 255\]: -1$/],
    ['INT8', '[[0, 1], [128]]', /element 2 is not an integer in \[-128, 127\]: 128$/],
    ['UINT64', '[0, -1, 1]', /^input 'x' \(UINT64\) element 1 is not an integer in \[0, 18446744073709551615\]: -1$/],
    ['UINT64', '[0, 1, 18446744073709551616]', /element 2 is not an integer in \[0, 18446744073709551615\]: 18446744073709551616$/],
    ['UINT16', '[0, 1, 1e999999999]', /element 2 is not an integer in \[0, 65535\]: 1e999999999$/],
    ['FP32', '[0, 1e39, 1]', /^input 'x' \(FP32\) element 1 is out of range for FP32: 1e39$/],
    ['FP64', '[0, 1, -1e400]', /^input 'x' \(FP64\) element 2 is out of range for FP64: -1e400$/],
    ['FP32', '[0, "1", 1]', /element 1 is not a number: "1"$/],
    ['FP32', '[0, true, 1]', /element 1 is not a number: true$/],
    ['INT64', '[0, null, 1]', /element 1 is not a number: null$/],
    ['BOOL', '[true, 2, false]', /element 1 is not a boolean: 2$/],
  ];
  for (const [datatype, data, expected] of cases) {
    test(`${datatype} ${data}`, () => assert.match(refusal(datatype, data), expected));
  }

  test('V1 refuses the same way', () => {
    assert.throws(() => decodePredictRequest(Buffer.from('{"instances": [[0, 1e300, 1]]}'), meta('INT64')), /input 'x' \(INT64\) element 1 is not an integer in .*: 1e300/);
    assert.throws(() => decodePredictRequest(Buffer.from('{"instances": [[0, 1, 300]]}'), meta('UINT8')), /element 2 is not an integer in \[0, 255\]: 300/);
    // JSON.parse reads these as the integers 123456789012 and 1: the exact parser is chosen
    assert.throws(() => decodePredictRequest(Buffer.from('{"instances": [[0, 123456789012.0000001, 1]]}'), meta('INT64')), /element 1 is not an integer in .*: 123456789012\.0000001$/);
    assert.throws(() => decodePredictRequest(Buffer.from('{"instances": [[1.0000000000000001, 0, 1]]}'), meta('INT32')), /element 0 is not an integer in .*: 1\.0000000000000001$/);
    assert.throws(() => decodePredictRequest(Buffer.from('{"instances": [[0, 1, 2.5]]}'), meta('INT32')), /element 2 is not an integer in .*: 2\.5$/);
  });

  test('a refused element is described without serialising what it nests', () => {
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    assert.match(refusal('FP32', `[0, ${deep}, 1]`), /element 1 is not a number: \{\.\.\.\}$/);
    assert.throws(() => fromJson('x', 'FP32', [[0], 'a'.repeat(10_000)]), (err: Error) => err.message.length < 200);
    // a shape element: the header check names it without JSON.stringify
    const shape = Buffer.from(`{"inputs":[{"name":"x","shape":[${deep}],"datatype":"FP32","data":[1]}]}`);
    assert.throws(() => decodeInferRequest(shape, undefined, 'm', undefined, () => []), /inputs\[0\]\.shape\[0\]: expected a non-negative integer, got \{\.\.\.\}/);
  });
});

describe('nesting is walked without recursion', () => {
  test('v2 data nested 100 levels is fine, 101 or 100 000 levels is a 400', () => {
    assert.deepEqual(decode('FP32', `${'['.repeat(100)}1,2,3${']'.repeat(100)}`), new Float32Array([1, 2, 3]));
    assert.match(refusal('FP32', `${'['.repeat(101)}1,2,3${']'.repeat(101)}`), /input 'x': data is nested deeper than 100 levels/);
    assert.match(refusal('FP32', `${'['.repeat(100_000)}${']'.repeat(100_000)}`), /nested deeper than 100 levels/);
    assert.match(refusal('BYTES', `${'['.repeat(100_000)}"a"${']'.repeat(100_000)}`), /nested deeper than 100 levels/);
  });

  test('V1 instances nested 100 000 deep are a 400 (was a stack overflow)', () => {
    const deep = Buffer.from(`{"instances": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    for (const datatype of ['FP32', 'INT64', 'BYTES'] as Datatype[]) {
      assert.throws(() => decodePredictRequest(deep, meta(datatype)), (err: Error & { code?: string }) => err.code === 'INVALID_ARGUMENT' && /nested deeper than 100 levels/.test(err.message));
    }
    const ragged = Buffer.from(`{"instances": [[1, 2, 3], ${'['.repeat(50_000)}${']'.repeat(50_000)}]}`);
    assert.throws(() => decodePredictRequest(ragged, meta('FP32')), /not rectangular|nested deeper/);
  });

  test('the exact parser takes 1 000 000 levels without a stack', () => {
    const text = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    let v = parseJsonExact(text);
    let depth = 0;
    while (Array.isArray(v) && v.length > 0) {
      v = v[0];
      depth++;
    }
    assert.equal(depth, 999_999);
  });
});

describe('the exact parser matches JSON.parse', () => {
  test('on structure, strings, escapes, literals and __proto__', () => {
    const text = '{"a": [1, -2.5e-3, "x\\u0041\\n", true, false, null, {}], "__proto__": {"p": 1}, "b": {"c": [[]]}, "a": 7}';
    assert.deepEqual(parseJsonExact(text), JSON.parse(text));
    assert.equal(Object.getPrototypeOf(parseJsonExact(text)), Object.prototype);
  });

  test('refuses what JSON.parse refuses', () => {
    for (const bad of ['', '[1,]', '{"a":1,}', '[01]', '[1 2]', '{"a" 1}', '"\u0001"', '[-]', '[1.]', '[.5]', '[1e]', 'tru', '[1]x', '{"a":"\\x"}', 'NaN', '[Infinity]']) {
      assert.throws(() => JSON.parse(bad), SyntaxError, bad);
      assert.throws(() => parseJsonExact(bad), SyntaxError, bad);
    }
  });

  test('keeps the text of integers a double cannot tell apart', () => {
    const v = parseJsonExact('[9007199254740993, 1.0000000000000001, 1e400, 12345, 0.1]') as unknown[];
    assert.deepEqual(v.map((x) => (x instanceof ExactNumber ? `exact ${x.text}` : x)), ['exact 9007199254740993', 'exact 1.0000000000000001', 'exact 1e400', 12345, 0.1]);
  });
});

// --- scanner vs independent oracles ----------------------------------------------------------

let seed = 7;
function rand(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

/** Float number tokens of every spelling JSON allows, within FP32 range unless `wide`. */
function floatToken(wide: boolean): string {
  const limit = wide ? 308 : 37;
  switch (Math.floor(rand() * 13)) {
    case 0: return String(Math.fround(rand() * 4 - 2)); // Python/JS repr of a float32: 17 digits
    case 1: return (rand() * 200 - 100).toFixed(Math.floor(rand() * 9)); // short decimals
    case 2: return `${(rand() * 10).toFixed(Math.floor(rand() * 6))}${pick(['e', 'E'])}${pick(['', '+', '-'])}${Math.floor(rand() * limit)}`;
    case 3: return pick(['-0', '-0.0', '0', '0e5', '-0E-3', '0.000']);
    case 4: return pick(wide ? ['5e-324', '4.9e-324', '2.2250738585072014e-308', '1e-310', '-1e-320'] : ['1e-45', '1.4e-45', '-1.401298464324817e-45', '1.1754943508222875e-38', '1e-40', '7e-46']);
    case 5: return pick(wide ? ['1.7976931348623157e308', '-1.7976931348623157e308', '1e308', '8.98846567431158e307'] : ['3.4028234663852886e38', '3.4028235e38', '-3.4028234e38', '1e38', '3.4028235677973362e38']);
    case 6: return pick(['1e-400', '-1e-999', '0.000000000000000000000000000000000000000000000000001']); // underflow to ±0
    case 7: return String(Math.floor(rand() * 2 ** 31) - 2 ** 30); // integers
    case 8: return `${Math.floor(rand() * 9) + 1}${Array.from({ length: 15 + Math.floor(rand() * 15) }, () => Math.floor(rand() * 10)).join('')}`; // long integers
    case 9: return `0.${'0'.repeat(Math.floor(rand() * 30))}${Math.floor(rand() * 1e9)}`; // tiny, many leading zeros
    case 10: return `${rand() < 0.5 ? '-' : ''}${Math.floor(rand() * 1e6)}.${Math.floor(rand() * 1e12)}e${Math.floor(rand() * 60) - 30}`;
    case 11: return nearFloat32Midpoint(); // long text within 1e-17 of a float32 rounding boundary
    default: return String(rand() * 10 ** Math.floor(rand() * 20 - 10)); // doubles, shortest text
  }
}

/**
 * Text at, just above or just below the exact midpoint between a float32 and the next one up:
 * where rounding the first 15 digits cannot tell which float32 the number is (the scanner must
 * fall back to a full conversion there, and get double rounding right).
 */
function nearFloat32Midpoint(): string {
  const bits = new Uint32Array(1);
  const f = new Float32Array(bits.buffer);
  f[0] = rand() * 4 - 2;
  const a = f[0]!;
  bits[0]! += 1;
  const mid = (a + f[0]!) / 2; // exact in a double
  const exact = mid.toPrecision(30);
  const below = new Float64Array([mid]);
  new BigInt64Array(below.buffer)[0]! -= 1n; // the double just below (toward zero)
  return pick([exact, `${exact}1`, String(below[0]), mid.toPrecision(17), mid.toPrecision(16)]);
}

const NUMPY = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
const needsNumpy = NUMPY ? {} : { skip: 'python3 with numpy is not available' };

/** Python's json (ints read as floats, so -0 stays -0) and numpy: the bytes of the array. */
function pythonBytes(datatype: 'FP32' | 'FP64' | 'INT64' | 'UINT64', texts: string[]): Buffer[] {
  const dtype = { FP32: 'float32', FP64: 'float64', INT64: 'int64', UINT64: 'uint64' }[datatype];
  const parseInt = datatype.startsWith('FP') ? ', parse_int=float' : '';
  const script = `import sys, json, numpy as np\nfor line in sys.stdin:\n    print(np.array(json.loads(line${parseInt}), dtype=np.${dtype}).tobytes().hex())`;
  const run = spawnSync('python3', ['-c', script], { input: texts.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim().split('\n').map((hex) => Buffer.from(hex, 'hex'));
}

const bytesOf = (data: TensorData): Buffer => {
  const a = data as Float32Array;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
};

describe('the scanner gives bit-identical arrays', () => {
  for (const datatype of ['FP32', 'FP64'] as const) {
    test(`${datatype}: random tokens equal numpy's arrays and JSON.parse + Math.fround/Number`, needsNumpy, () => {
      const rows: string[] = [];
      const shapes: number[][] = [];
      for (let r = 0; r < 300; r++) {
        const n = 1 + Math.floor(rand() * 40);
        // some rows are all 17-digit text (the JSON.parse hand-off), some nested 2-D
        const python = rand() < 0.2;
        const tokens = Array.from({ length: n }, () => (python ? String(Math.fround(rand() * 4 - 2)) : floatToken(datatype === 'FP64')));
        if (n % 2 === 0 && rand() < 0.5) {
          rows.push(`[${Array.from({ length: n / 2 }, (_, i) => `[${tokens.slice(2 * i, 2 * i + 2).join(', ')}]`).join(',')}]`);
          shapes.push([n / 2, 2]);
        } else {
          rows.push(`[${tokens.join(',')}]`);
          shapes.push([n]);
        }
      }
      const oracle = pythonBytes(datatype, rows);
      rows.forEach((row, i) => {
        const data = decode(datatype, row, shapes[i]);
        assert.deepEqual(bytesOf(data), oracle[i], `${datatype} ${row}`);
        const flat = (JSON.parse(row) as number[] | number[][]).flat();
        const legacy = datatype === 'FP32' ? new Float32Array(flat.map(Math.fround)) : new Float64Array(flat);
        assert.deepEqual(bytesOf(data), bytesOf(legacy), `${datatype} ${row} vs JSON.parse`);
      });
    });
  }

  for (const datatype of ['INT64', 'UINT64'] as const) {
    test(`${datatype}: random integers (up to the extremes) equal numpy's arrays`, needsNumpy, () => {
      const lo = datatype === 'INT64' ? -(2n ** 63n) : 0n;
      const span = 2n ** 64n;
      const rows: string[] = [];
      for (let r = 0; r < 200; r++) {
        const tokens = Array.from({ length: 1 + Math.floor(rand() * 30) }, () => {
          switch (Math.floor(rand() * 5)) {
            case 0: return String(lo + (BigInt(Math.floor(rand() * 2 ** 32)) * span) / 2n ** 32n);
            case 1: return pick([String(lo), String(lo + span - 1n), String(2n ** 53n + 1n), String(2n ** 53n - 1n), '0', '-0'].filter((t) => datatype === 'INT64' || !t.startsWith('-') || t === '-0'));
            case 2: return pick(['1e3', '3.0', '2.5e1', '100e-2', '1E+15']);
            default: return String(Math.floor(rand() * 100_000));
          }
        });
        rows.push(`[${tokens.join(',')}]`);
      }
      const oracle = pythonBytes(datatype, rows);
      rows.forEach((row, i) => assert.deepEqual(bytesOf(decode(datatype, row, [row.split(',').length])), oracle[i], row));
    });
  }

  test('a shape that claims far more elements than the text holds allocates only what is there', () => {
    const long = Array.from({ length: 8 }, (_, i) => String(Math.fround(0.1 * (i + 1)))).join(',');
    for (const datatype of ['FP32', 'FP64', 'INT64']) {
      const row = datatype === 'INT64' ? '[1,2,3,4,5,6,7,8]' : `[${long}]`;
      const data = decode(datatype, row, [4_000_000_000]);
      assert.equal((data as Float32Array).length, 8);
      assert.ok((data as Float32Array).buffer.byteLength <= 8 * 8 * 2, `${datatype}: ${(data as Float32Array).buffer.byteLength} bytes`);
    }
  });

  test('small integer and BOOL types agree with the general path', () => {
    for (const [datatype, row] of [['INT8', '[-128, 127, 0, -0, 1e2]'], ['UINT16', '[0, 65535, 6.5535e4]'], ['INT32', '[[-2147483648], [2147483647]]'], ['UINT32', '[4294967295, 0]'], ['BOOL', '[true, false, 1, 0, 1.0]']] as const) {
      const data = decode(datatype, row, [JSON.parse(row).flat().length]);
      assert.deepEqual(data, fromJson('x', datatype, JSON.parse(row)), row);
    }
  });
});

describe('the data locator follows JSON.parse on any request layout', () => {
  test('random whitespace, key order, escaped keys, duplicate keys and decoy strings', () => {
    const ws = (): string => pick(['', ' ', '\n', '\t ', '\r\n  ']);
    const decoys = ['"data"', '"[1,2]"', '"\\"]}"', '"inputs"', '"\\u0064ata"', '{"data":[9,9]}', '[[["x"]]]', 'null', '-1.5e3'];
    for (let n = 0; n < 300; n++) {
      const count = 1 + Math.floor(rand() * 3);
      const inputs: string[] = [];
      const expected: number[][] = [];
      for (let i = 0; i < count; i++) {
        const values = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => Number((rand() * 100 - 50).toFixed(3)));
        expected.push(values);
        const dataKey = pick(['"data"', '"d\\u0061ta"', '"\\u0064\\u0061\\u0074\\u0061"']);
        const fields = [`"name"${ws()}:${ws()}"in${i}"`, `"shape":[${values.length}]`, `"datatype":${ws()}"FP64"`, `"note":${pick(decoys)}`];
        for (let k = fields.length - 1; k > 0; k--) {
          const j = Math.floor(rand() * (k + 1));
          [fields[k], fields[j]] = [fields[j]!, fields[k]!];
        }
        // an earlier "data" key is overridden by the real one (JSON.parse: the last key wins)
        const realAt = Math.floor(rand() * (fields.length + 1));
        fields.splice(realAt, 0, `${dataKey}:${ws()}[${values.map((v) => `${ws()}${v}${ws()}`).join(',')}]`);
        if (rand() < 0.3) fields.splice(Math.floor(rand() * (realAt + 1)), 0, `"data":${ws()}[${pick(decoys)}]`);
        inputs.push(`${ws()}{${ws()}${fields.join(`${ws()},${ws()}`)}${ws()}}`);
      }
      const top = [`"inputs":${ws()}[${inputs.join(',')}]`, `"id":${ws()}"r\\"${n}"`, `"x":${pick(decoys)}`];
      if (rand() < 0.2) top.unshift('"inputs":[{"name":"decoy","shape":[1],"datatype":"FP32","data":[7]}]');
      const text = `${ws()}{${ws()}${top.join(`${ws()},${ws()}`)}${ws()}}${ws()}`;
      const reference = JSON.parse(text) as { inputs: { data: number[] }[] };
      assert.deepEqual(reference.inputs.map((i) => i.data), expected, text);
      const decoded = decodeInferRequest(Buffer.from(text), undefined, 'm', undefined, () => []);
      assert.deepEqual(decoded.inputs.map((t) => Array.from(t.data as Float64Array)), expected, text);
      assert.equal(decoded.id, `r"${n}`);
    }
  });
});
