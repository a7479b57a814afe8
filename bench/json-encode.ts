/**
 * In-process micro-benchmark of JSON output encoding: 1000 float32 outputs (the wide MLP's
 * answer) as `JSON.stringify(Array.from(data))` (berth before #16) and as the shortest-text
 * writer (src/text/tensor-json.ts). Prints µs per answer and bytes.
 *   node --import tsx bench/json-encode.ts
 */
import { JsonTextWriter, writeTensorJson } from '../src/text/tensor-json.js';

const N = 1000;
const data = new Float32Array(N);
// Values like a dense layer's outputs: normal-ish, a few orders of magnitude.
let seed = 42;
const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
for (let i = 0; i < N; i++) data[i] = (rand() - 0.5) * 4 * 10 ** Math.floor(rand() * 3 - 1);

function stringify(): string {
  return JSON.stringify({ data: Array.from(data) });
}
function writer(): Uint8Array {
  const w = new JsonTextWriter(64 * 1024 * 1024, 16 * 1024);
  writeTensorJson(w, 'FP32', data, 0, [N]);
  return w.finish();
}

function time(fn: () => unknown, rounds: number): number {
  for (let i = 0; i < 200; i++) fn();
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) fn();
  return Number(process.hrtime.bigint() - started) / 1000 / rounds;
}

const rows: [string, number, number][] = [];
for (let round = 0; round < 3; round++) {
  rows.push(['JSON.stringify (float64 text)', time(stringify, 2000), Buffer.byteLength(stringify()) - '{"data":}'.length]);
  rows.push(['shortest float32 writer', time(writer, 2000), writer().length]);
}
for (const [name, us, bytes] of rows) console.log(`${name.padEnd(32)} ${us.toFixed(1).padStart(7)} µs  ${bytes} bytes`);
const best = (name: string): number => Math.min(...rows.filter((r) => r[0] === name).map((r) => r[1]));
console.log(`best of 3: JSON.stringify ${best('JSON.stringify (float64 text)').toFixed(1)} µs, writer ${best('shortest float32 writer').toFixed(1)} µs`);
