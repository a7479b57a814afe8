// The naive baseline of the serving bench: the classic tutorial setup. fastify, one
// onnxruntime-node `InferenceSession` on the main thread, ONE `session.run` per request, JSON in
// and JSON out in the Open Inference Protocol v2 shape. No batching, no worker threads: `run()`
// blocks the event loop for the whole inference.
//
//   node --import tsx bench/naive-server.ts --model path/to/model.onnx --name small [--port 0]
//
// Prints `LISTENING <port>` on stdout once it accepts requests.
import Fastify from 'fastify';
import * as ort from 'onnxruntime-node';
import { parseArgs } from 'node:util';

interface JsonTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    name: { type: 'string', default: 'model' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (!values.model) {
  console.error('usage: naive-server --model MODEL.onnx [--name NAME] [--port P]');
  process.exit(2);
}

const session = await ort.InferenceSession.create(values.model);
const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });

app.get('/v2/health/ready', async () => ({ ready: true }));

app.post<{ Params: { name: string }; Body: { inputs?: JsonTensor[] } }>('/v2/models/:name/infer', async (req, reply) => {
  const inputs = req.body?.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    return reply.code(400).send({ error: 'inputs required' });
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of inputs) {
    feeds[t.name] = new ort.Tensor('float32', Float32Array.from(t.data), t.shape);
  }
  const results = await session.run(feeds);
  const outputs = Object.entries(results).map(([name, t]) => ({
    name,
    datatype: 'FP32',
    shape: t.dims,
    data: Array.from(t.data as Float32Array),
  }));
  return { model_name: req.params.name, model_version: '1', outputs };
});

const address = await app.listen({ port: Number(values.port), host: values.host });
const port = new URL(address).port;
process.stdout.write(`LISTENING ${port}\n`);

const stop = (): void => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
