// The layering lint (eslint.layers.js) refuses imports that cross the layers and accepts the ones
// the table allows: each case lints a one-line file placed at a path inside src/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readdirSync, statSync } from 'node:fs';
import { ESLint } from 'eslint';
import { FOLDERS } from '../../eslint.layers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const eslint = new ESLint({ cwd: ROOT });

async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport {};\n`, { filePath: join(ROOT, file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const refused: [string, string][] = [
  // nothing imports a front end
  ['src/core/fake.ts', "import { buildHttpApp } from '../http/app.js';"],
  ['src/monitor/fake.ts', "import type { FastifyInstance } from 'fastify';"],
  ['src/monitor/drift/fake.ts', "import { startGrpcServer } from '../../grpc/server.js';"],
  ['src/registry/fake.ts', "import { main } from '../cli/main.js';"],
  ['src/runtime/fake.ts', "import { startServer } from '../server.js';"],
  // the core does not know its backends or monitoring
  ['src/core/fake.ts', "import { WorkerInstance } from '../runtime/instance.js';"],
  ['src/core/fake.ts', "import type { Metrics } from '../monitor/metrics.js';"],
  // a backend sees only the core's shared files
  ['src/runtime/fake.ts', "import { DynamicBatcher } from '../core/batcher.js';"],
  ['src/runtime/fake.ts', "import type { InferenceService } from '../core/inference-service.js';"],
  // the shared files import only each other and the leaves
  ['src/core/tensor.ts', "import { DynamicBatcher } from './batcher.js';"],
  // the leaves import nothing of berth
  ['src/onnx/fake.ts', "import type { Tensor } from '../core/tensor.js';"],
  ['src/text/fake.ts', "import { sampleQuantile } from '../util/stats.js';"],
  ['src/util/fake.ts', "import { decodeModel } from '../onnx/codec.js';"],
  // the configuration imports no front end, and only its defaults are a leaf
  ['src/config/fake.ts', "import { buildHttpApp } from '../http/app.js';"],
  ['src/config/fake.ts', "import type { InferenceService } from '../core/inference-service.js';"],
  ['src/core/fake.ts', "import { serverConfigSchema } from '../config/schema.js';"],
  ['src/config/defaults.ts', "import { median } from '../util/stats.js';"],
  // monitoring does not reach into preparation
  ['src/monitor/fake.ts', "import { evaluate } from '../optimize/eval.js';"],
];

for (const [file, code] of refused) {
  test(`refused in ${file}: ${code}`, async () => {
    const messages = await restricted(file, code);
    assert.equal(messages.length, 1, `expected one layering error, got ${JSON.stringify(messages)}`);
  });
}

const accepted: [string, string][] = [
  ['src/http/fake.ts', "import type { InferenceService } from '../core/inference-service.js';"],
  ['src/runtime/fake.ts', "import type { Backend } from '../core/backend.js';"],
  ['src/core/fake.ts', "import { readModelInfo } from '../onnx/inspect.js';"],
  ['src/monitor/drift/fake.ts', "import type { Tensor } from '../../core/tensor.js';"],
  ['src/cli/commands/fake.ts', "import { startServer } from '../../server.js';"],
  ['src/optimize/fake.ts', "import { readDataset } from '../datasets/index.js';"],
  ['src/core/fake.ts', "import { DEFAULTS } from '../config/defaults.js';"],
  ['src/monitor/drift/fake.ts', "import { DEFAULTS } from '../../config/defaults.js';"],
  ['src/config/fake.ts', "import { invalidArgument } from '../core/errors.js';"],
  ['src/http/fake.ts', "import { parseConfig } from '../config/load.js';"],
];

for (const [file, code] of accepted) {
  test(`accepted in ${file}: ${code}`, async () => {
    assert.deepEqual(await restricted(file, code), []);
  });
}

test('every folder of src/ is in the layering table', () => {
  const folders = readdirSync(join(ROOT, 'src')).filter((f) => statSync(join(ROOT, 'src', f)).isDirectory());
  assert.deepEqual(folders.filter((f) => !FOLDERS.includes(f)), []);
});
