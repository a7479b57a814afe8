import { Worker } from 'node:worker_threads';
import { readFile } from 'node:fs/promises';
const mode = process.argv[2];
const n = 60;
const code: Record<string, string> = {
  plain: `require('node:worker_threads').parentPort.on('message', () => {}); require('node:worker_threads').parentPort.postMessage('ok')`,
  tsx: `import('tsx/esm/api').then((m) => { m.register(); const p = require('node:worker_threads').parentPort; p.on('message', () => {}); p.postMessage('ok'); });`,
  ort: `const ort = require('onnxruntime-node'); const p = require('node:worker_threads').parentPort; ort.InferenceSession.create('/usr/share/libonnx-testdata/data/node/test_abs/model.onnx', {intraOpNumThreads: 1}).then(() => { p.on('message', () => {}); p.postMessage('ok'); });`,
};
const ws = Array.from({ length: n }, () => new Worker(code[mode]!, { eval: true }));
await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
await new Promise((r) => setTimeout(r, 1000));
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  await readFile('/etc/hostname');
  console.log(mode, 'readFile ms', Math.round(performance.now() - t));
  await new Promise((r) => setTimeout(r, 500));
}
await Promise.all(ws.map((w) => w.terminate()));
