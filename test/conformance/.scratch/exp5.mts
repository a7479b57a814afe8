import { readdirSync } from 'node:fs';
import { WorkerInstance } from '/work/main/src/runtime/instance.ts';
const root = '/usr/share/libonnx-testdata/data/node';
const n = Number(process.argv[2]);
const names = readdirSync(root).sort().slice(4, 4 + n);
const good = names.map((x) => new WorkerInstance({ modelPath: `${root}/${x}/model.onnx`, intraOpNumThreads: 1 }));
await Promise.allSettled(good.map((g) => g.ready));
const t0 = performance.now();
const bad = new WorkerInstance({ modelPath: `${root}/test_adam/model.onnx`, intraOpNumThreads: 1 });
const w = (bad as any).worker;
w.on('exit', (c: number) => console.log('exit', c, Math.round(performance.now() - t0)));
try { await bad.ready; } catch (e) { console.log('bad rejected at', Math.round(performance.now() - t0)); }
const t1 = performance.now();
setTimeout(async () => { console.log('alive?', bad.alive); await bad.close(); console.log('bad closed in', Math.round(performance.now() - t1)); await Promise.all(good.map((g) => g.close())); }, 8000);
