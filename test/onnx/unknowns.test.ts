/**
 * Fields our schema does not know (newer ONNX, vendor extensions) must survive decode -> encode,
 * and int64 values must never be rounded. The bytes are assembled by hand here, so the test does
 * not depend on our encoder to produce its input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeModel, encodeModel, decodeTensor, encodeTensor } from '../../src/onnx/codec.js';
import { tensorToArray } from '../../src/onnx/tensor.js';

// --- a minimal protobuf wire writer ---
function varintBytes(v: bigint): number[] {
  let u = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let b = Number(u & 0x7fn);
    u >>= 7n;
    if (u) b |= 0x80;
    out.push(b);
  } while (u);
  return out;
}
const tag = (field: number, wire: number): number[] => varintBytes(BigInt((field << 3) | wire));
const varint = (field: number, v: number | bigint): number[] => [...tag(field, 0), ...varintBytes(BigInt(v))];
const bytes = (field: number, payload: number[]): number[] => [...tag(field, 2), ...varintBytes(BigInt(payload.length)), ...payload];
const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s, 'utf8')]);
const packed = (field: number, values: (number | bigint)[]): number[] => bytes(field, values.flatMap((v) => varintBytes(BigInt(v))));

// Known fields in field-number order, unknown ones last: the layout protoc writes, so the
// re-encoded bytes can be compared whole.
const UNKNOWN_NODE = varint(999, 42);
const UNKNOWN_TENSOR = str(1000, 'vendor extension');
const UNKNOWN_MODEL = bytes(26, str(1, 'device config from a newer onnx'));
const UNKNOWN_DIM = varint(77, 1);

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

const tensorBytes = [
  ...varint(1, 2), // dims: repeated int64, not packed
  ...varint(1, 2),
  ...varint(2, 7), // data_type INT64
  ...packed(7, [INT64_MAX, -1, INT64_MIN + 1n, 2n ** 53n]), // int64_data
  ...str(8, 'W'),
  ...UNKNOWN_TENSOR,
];

const node = [
  ...str(1, 'x'),
  ...str(1, 'W'),
  ...str(2, 'y'),
  ...str(4, 'Add'),
  // attribute: name, i = INT64_MAX, ints = [-1, 3], type = INTS
  ...bytes(5, [...str(1, 'axes'), ...varint(8, -1), ...varint(8, 3), ...varint(20, 7)]),
  ...bytes(5, [...str(1, 'end'), ...varint(3, INT64_MAX), ...varint(20, 2)]),
  ...UNKNOWN_NODE,
];

const valueInfo = (): number[] =>
  bytes(2, [...bytes(1, [...varint(1, 7), ...bytes(2, [...bytes(1, [...varint(1, 2), ...UNKNOWN_DIM]), ...bytes(1, str(2, 'n'))])])]);

const graph = [
  ...bytes(1, node),
  ...str(2, 'g'),
  ...bytes(5, tensorBytes),
  ...bytes(11, [...str(1, 'x'), ...valueInfo()]),
  ...bytes(12, [...str(1, 'y'), ...valueInfo()]),
];

const model = Uint8Array.from([
  ...varint(1, 8), // ir_version
  ...str(2, 'handmade'),
  ...bytes(7, graph),
  ...bytes(8, [...str(1, ''), ...varint(2, 13)]),
  ...UNKNOWN_MODEL,
]);

function contains(haystack: Uint8Array, needle: number[]): boolean {
  return Buffer.from(haystack).indexOf(Buffer.from(needle)) >= 0;
}

test('unknown fields of model, node, tensor and nested messages survive a round trip', () => {
  const m = decodeModel(model);
  assert.equal(m.$unknowns?.length, 1);
  assert.equal(m.graph!.node[0].$unknowns?.length, 1);
  assert.equal(m.graph!.initializer[0].$unknowns?.length, 1);
  assert.equal(m.graph!.input[0].type!.tensorType!.shape!.dim![0].$unknowns?.length, 1);
  const out = encodeModel(m);
  assert.deepEqual(Buffer.from(out), Buffer.from(model));
  for (const u of [UNKNOWN_NODE, UNKNOWN_TENSOR, UNKNOWN_MODEL, UNKNOWN_DIM]) assert.ok(contains(out, u));
});

test('unknown fields survive edits of other fields', () => {
  const m = decodeModel(model);
  m.graph!.node[0].name = 'renamed';
  m.graph!.node.push({ input: ['y'], output: ['z'], opType: 'Relu', attribute: [] });
  m.producerName = 'edited';
  const again = decodeModel(encodeModel(m));
  assert.equal(again.graph!.node[0].name, 'renamed');
  assert.deepEqual(again.graph!.node[0].$unknowns, m.graph!.node[0].$unknowns);
  assert.ok(contains(encodeModel(again), UNKNOWN_MODEL));
  assert.ok(contains(encodeModel(again), UNKNOWN_TENSOR));
});

test('unknown fields of a standalone tensor survive', () => {
  const t = decodeTensor(Uint8Array.from(tensorBytes));
  assert.deepEqual(Buffer.from(encodeTensor(t)), Buffer.from(tensorBytes));
});

test('int64 values decode as numbers when safe, bigints otherwise, and re-encode exactly', () => {
  const m = decodeModel(model);
  const [axes, end] = m.graph!.node[0].attribute;
  assert.deepEqual(axes.ints, [-1, 3]);
  assert.equal(end.i, INT64_MAX);
  const w = m.graph!.initializer[0];
  assert.deepEqual(w.dims, [2, 2]);
  assert.deepEqual(w.int64Data, [INT64_MAX, -1, INT64_MIN + 1n, 2n ** 53n]);
  assert.deepEqual([...(tensorToArray(w) as BigInt64Array)], [INT64_MAX, -1n, INT64_MIN + 1n, 2n ** 53n]);
  // bigints written by hand encode exactly too
  m.graph!.node[0].attribute[1].i = INT64_MIN;
  assert.equal(decodeModel(encodeModel(m)).graph!.node[0].attribute[1].i, INT64_MIN);
});

test('presence is kept: a field explicitly written as its default stays written', () => {
  const withZero = Uint8Array.from([...varint(1, 8), ...varint(5, 0), ...bytes(7, [...str(2, 'g')]), ...bytes(8, [...str(1, ''), ...varint(2, 13)])]);
  const m = decodeModel(withZero);
  assert.equal(m.modelVersion, 0);
  assert.equal(m.domain, undefined);
  assert.deepEqual(Buffer.from(encodeModel(m)), Buffer.from(withZero));
});
