// In-process micro-benchmark of v2 JSON request decoding (issue #16 item 3): JSON.parse of the
// whole body + per-element conversion (the decoder before the scanner) against the scanner
// that reads `data` straight into typed arrays. Medians of many timed rounds, same process.
//
//   node --import tsx bench/json-decode.ts
import { decodeInferRequest } from '../src/http/v2-codec.js';
import { fromJson } from '../src/http/json-decode.js';
import { parseRequestHeader } from '../src/http/v2-request-header.js';
import type { Datatype } from '../src/core/tensor.js';
import { quantileAtFloorIndex, sortedNumbers } from '../src/util/stats.js';

/** Without the scanner: JSON.parse, the header check, then the general element conversion. */
function baseline(body: Buffer): unknown {
  const req = parseRequestHeader(JSON.parse(body.toString('utf8')));
  return req.inputs.map((input) => fromJson(input.name, input.datatype as Datatype, input.data));
}

function scanner(body: Buffer): unknown {
  return decodeInferRequest(body, undefined, 'm', undefined, () => []).inputs;
}

function body(rows: number, cols: number, datatype: string, element: (i: number) => string): Buffer {
  const data: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row: string[] = [];
    for (let c = 0; c < cols; c++) row.push(element(r * cols + c));
    data.push(`[${row.join(',')}]`);
  }
  return Buffer.from(`{"id":"b","inputs":[{"name":"input","shape":[${rows},${cols}],"datatype":"${datatype}","data":[${data.join(',')}]}]}`);
}

let seed = 42;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const f32 = (): number => Math.fround(random() * 4 - 2);
// What berth's own encoder and a float32-aware client write (shortest float32 text) …
const short = (): string => String(f32()).replace(/^(-?\d+\.\d{0,8}).*$/, '$1');
// … and what Python's json.dumps(array.tolist()) writes for float32 data (17 digits).
const python = (): string => String(f32());

/** The upper median (element ⌊n/2⌋ of the sorted values). */
function median(xs: number[]): number {
  return quantileAtFloorIndex(sortedNumbers(xs), 0.5);
}

/** Median µs per decode of each, timed in alternating rounds (the machine is shared and noisy). */
function paired(b: Buffer): { before: number; after: number; ratio: number } {
  const inner = Math.max(1, Math.round(200_000 / b.length));
  for (let i = 0; i < 5 * inner; i++) {
    baseline(b);
    scanner(b);
  }
  const before: number[] = [];
  const after: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < 41; r++) {
    let t0 = process.hrtime.bigint();
    for (let j = 0; j < inner; j++) baseline(b);
    const a = Number(process.hrtime.bigint() - t0) / 1000 / inner;
    t0 = process.hrtime.bigint();
    for (let j = 0; j < inner; j++) scanner(b);
    const c = Number(process.hrtime.bigint() - t0) / 1000 / inner;
    before.push(a);
    after.push(c);
    ratios.push(c / a);
  }
  return { before: median(before), after: median(after), ratio: median(ratios) };
}

const cases: [string, Buffer][] = [
  ['FP32 1×512, short text', body(1, 512, 'FP32', short)],
  ['FP32 1×512, Python repr', body(1, 512, 'FP32', python)],
  ['FP32 64×512, short text', body(64, 512, 'FP32', short)],
  ['FP32 64×512, Python repr', body(64, 512, 'FP32', python)],
  ['INT64 1×512 token ids', body(1, 512, 'INT64', () => String(Math.floor(random() * 50000)))],
  ['INT64 64×512 token ids', body(64, 512, 'INT64', () => String(Math.floor(random() * 50000)))],
];
console.log('| request | body | JSON.parse + convert | scanner | scanner / before (median of paired rounds) |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, b] of cases) {
  const { before, after, ratio } = paired(b);
  console.log(`| ${name} | ${(b.length / 1024).toFixed(1)} KiB | ${before.toFixed(1)} µs | ${after.toFixed(1)} µs | ${ratio.toFixed(2)} |`);
}
