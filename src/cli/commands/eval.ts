/**
 * `berth eval MODEL --data X [--labels Y] [--reference MODEL] [--batch N] [--json]`:
 * accuracy, agreement with a reference, latency and size of one model.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { loadModel } from '../../onnx/index.js';
import { modelInputSpecs, readDataset, readLabels } from '../../datasets/index.js';
import { evaluate, formatEvalReport } from '../../optimize/eval.js';

export interface EvalCommandOptions {
  data: string;
  labels?: string;
  reference?: string;
  batch: number;
  outputName?: string;
  latency: boolean;
  rounds?: number;
  threads?: number;
  json?: boolean;
}

export function positiveInteger(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** Prints `error: <first line>` to stderr and sets a non-zero exit code. */
export function reportError(err: unknown, code = 1): void {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${message.split('\n')[0]}\n`);
  process.exitCode = code;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('measure a model: top-1 accuracy, agreement with a reference model, latency at batch 1 and N, size')
    .argument('<model>', 'path to an .onnx file')
    .requiredOption('--data <file>', 'inputs: .npy, .npz, .json, .csv, or a directory of NAME.npy (first axis = samples)')
    .option('--labels <file>', 'ground truth: .npy, .json or .csv, one label per sample')
    .option('--reference <model>', 'model to compare against (usually the original before optimization)')
    .option('--batch <n>', 'batch size for inference and the batch-N latency', positiveInteger('--batch'), 32)
    .option('--output-name <name>', "model output to score (default: the model's first output)")
    .option('--no-latency', 'skip the latency measurement')
    .option('--rounds <n>', 'latency rounds; figures are medians over rounds (default 3)', positiveInteger('--rounds'))
    .option('--threads <n>', 'onnxruntime intra-op threads (default: onnxruntime decides)', positiveInteger('--threads'))
    .option('--json', 'print the report as JSON')
    .action(async (modelPath: string, opts: EvalCommandOptions) => {
      try {
        // Input names only (external data not read): they decide how JSON data maps to inputs.
        const inputNames = modelInputSpecs(await loadModel(modelPath, { externalData: false })).map((s) => s.name);
        const [data, labels] = await Promise.all([readDataset(opts.data, { inputNames }), opts.labels ? readLabels(opts.labels) : undefined]);
        const report = await evaluate(modelPath, {
          data,
          labels,
          reference: opts.reference,
          batch: opts.batch,
          outputName: opts.outputName,
          latency: opts.latency,
          rounds: opts.rounds,
          sessionOptions: opts.threads ? { intraOpNumThreads: opts.threads } : undefined,
        });
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatEvalReport(report));
      } catch (err) {
        reportError(err);
      }
    });
}
