import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { WorkerInstance } from '/work/main/src/runtime/instance.ts';
const root = '/usr/share/libonnx-testdata/data/node';
const n = Number(process.argv[2]);
const names = readdirSync(root).sort().slice(4, 4 + n);
const good = names.map((x) => new WorkerInstance({ modelPath: `${root}/${x}/model.onnx`, intraOpNumThreads: 1 }));
await Promise.allSettled(good.map((g) => g.ready));
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  await readFile('/etc/hostname');
  console.log('readFile ms', Math.round(performance.now() - t));
  await new Promise((r) => setTimeout(r, 1000));
}
await Promise.all(good.map((g) => g.close()));
