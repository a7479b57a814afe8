// The lean batching baseline of the serving bench: the least a Node server can do and still batch.
// fastify, a queue, one onnxruntime-node session in one worker thread; a request is a v2 binary
// body (JSON header + raw float32 rows), its answer a v2 binary body. When the worker is free,
// everything queued (up to 32 rows) goes as one batch; no queue delay, no validation beyond what
// keeps it from crashing, no monitoring, no cancellation. Its throughput is what batching on
// fastify + worker_threads allows on the machine; berth binary / lean says what berth's own
// features (validation, shape-keyed batching, priorities, timeouts, statistics, metrics, logs,
// drift, feedback) cost on top of that.
//
//   node --import tsx bench/lean-server.ts --model path/to/model.onnx --name heavy [--port 0]
//
// Prints `LISTENING <port>` on stdout once it accepts requests.
import Fastify from 'fastify';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    name: { type: 'string', default: 'model' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'max-batch-size': { type: 'string', default: '32' },
  },
});
if (!values.model) {
  console.error('usage: lean-server --model MODEL.onnx [--name NAME] [--port P] [--max-batch-size N]');
  process.exit(2);
}
const MAX_BATCH = Number(values['max-batch-size']);

// The worker is plain JavaScript evaluated in the thread (tsx's hooks do not reach workers on
// Node 20). Same session options as berth's workers: onnxruntime's default thread count, no
// spinning. It answers [output data, output dims] with the data's buffer transferred.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
ort.InferenceSession.create(workerData.model, { extra: { session: { intra_op: { allow_spinning: '0' } } } }).then((session) => {
  const inputName = session.inputNames[0];
  parentPort.on('message', async ({ data, dims }) => {
    const out = await session.run({ [inputName]: new ort.Tensor('float32', new Float32Array(data), dims) });
    const t = out[session.outputNames[0]];
    const copy = Float32Array.from(t.data);
    parentPort.postMessage({ data: copy.buffer, dims: t.dims }, [copy.buffer]);
  });
  parentPort.postMessage('ready');
});
`;
const worker = new Worker(WORKER, { eval: true, workerData: { model: values.model, ort: createRequire(import.meta.url).resolve('onnxruntime-node') } });
await new Promise<void>((resolve, reject) => {
  worker.once('message', () => resolve());
  worker.once('error', reject);
});

interface Waiting {
  rows: Float32Array;
  resolve: (out: { data: Float32Array; perRow: number }) => void;
}
const queue: Waiting[] = [];
let running: Waiting[] | undefined;
let rowLength = 0;

function runNext(): void {
  if (running || queue.length === 0) return;
  running = queue.splice(0, MAX_BATCH);
  const data = new Float32Array(running.length * rowLength);
  running.forEach((w, i) => data.set(w.rows, i * rowLength));
  worker.postMessage({ data: data.buffer, dims: [running.length, rowLength] }, [data.buffer]);
}

worker.on('message', (message: { data: ArrayBuffer; dims: number[] }) => {
  const batch = running!;
  running = undefined;
  runNext();
  const out = new Float32Array(message.data);
  const perRow = out.length / batch.length;
  batch.forEach((w, i) => w.resolve({ data: out.subarray(i * perRow, (i + 1) * perRow), perRow }));
});

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.get('/v2/health/ready', async () => ({ ready: true }));

app.post<{ Params: { name: string } }>('/v2/models/:name/infer', async (req, reply) => {
  const body = req.body as Buffer;
  const headerLength = Number(req.headers['inference-header-content-length']);
  if (!Number.isInteger(headerLength) || headerLength <= 0 || headerLength > body.length) {
    return reply.code(400).send({ error: 'the lean server takes binary requests only (Inference-Header-Content-Length)' });
  }
  JSON.parse(body.subarray(0, headerLength).toString('utf8')); // a real server reads the header
  const blob = body.subarray(headerLength);
  const rows = new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.length));
  rowLength = rows.length;
  const result = await new Promise<{ data: Float32Array; perRow: number }>((resolve) => {
    queue.push({ rows, resolve });
    runNext();
  });
  const header = Buffer.from(JSON.stringify({
    model_name: req.params.name,
    model_version: '1',
    outputs: [{ name: 'output', datatype: 'FP32', shape: [1, result.perRow], parameters: { binary_data_size: result.data.byteLength } }],
  }));
  void reply.header('inference-header-content-length', String(header.length));
  return reply.type('application/octet-stream').send(Buffer.concat([header, Buffer.from(result.data.buffer, result.data.byteOffset, result.data.byteLength)]));
});

const address = await app.listen({ port: Number(values.port), host: values.host });
process.stdout.write(`LISTENING ${new URL(address).port}\n`);

const stop = (): void => {
  void app.close().then(() => worker.terminate()).then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
