import pino from 'pino';
import { startServer } from '/work/main/src/server.ts';
const root = '/usr/share/libonnx-testdata/data/node';
const names = process.argv.slice(2);
const t0 = performance.now();
const logger = pino({ level: 'info' }, pino.destination(1));
const s = await startServer({ paths: names.map((x) => `${root}/${x}/model.onnx`), port: 0, defaults: { intraOpThreads: 1 }, logger });
console.log('load ms', Math.round(performance.now() - t0));
await s.close();
