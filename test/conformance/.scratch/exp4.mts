import { readdirSync } from 'node:fs';
import { WorkerInstance } from '/work/main/src/runtime/instance.ts';
const root = '/usr/share/libonnx-testdata/data/node';
const n = Number(process.argv[2]);
const names = readdirSync(root).sort().slice(4, 4 + n);
const t0 = performance.now();
const good = names.map((x) => new WorkerInstance({ modelPath: `${root}/${x}/model.onnx`, intraOpNumThreads: 1 }));
const bad = new WorkerInstance({ modelPath: `${root}/test_adam/model.onnx`, intraOpNumThreads: 1 });
try { await bad.ready; } catch (e) { console.log('bad rejected at', Math.round(performance.now() - t0), String(e).slice(0, 80)); }
const t1 = performance.now();
await bad.close();
console.log('bad closed in', Math.round(performance.now() - t1));
await Promise.allSettled(good.map((g) => g.ready));
console.log('good ready at', Math.round(performance.now() - t0));
await Promise.all(good.map((g) => g.close()));
