/**
 * `berth optimize IN -o OUT --steps prune=0.5,quantize=dynamic --data X --labels Y
 *  [--max-accuracy-drop 0.01] [--json]`: run a chain of steps, evaluate after each, and refuse
 * (exit 3, nothing written) when the accuracy drop exceeds the bound.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { loadModel, saveModel } from '../../onnx/index.js';
import { modelInputSpecs, readDataset, readLabels } from '../../datasets/index.js';
import { formatBytes, type LatencyStats } from '../../optimize/eval.js';
import { describeCpu } from '../../runtime/cpu-features.js';
import { STEP_SYNTAX, parseSteps, runPipeline, type PipelineReport } from '../../optimize/pipeline.js';
import { positiveInteger, reportError } from './eval.js';
import { addPushOptions, checkPushFlags, inputFromRegistry, pushDerived, type PushFlags } from './registry.js';

/** Exit code when the pipeline refuses because a step broke the accuracy bound. */
export const EXIT_REFUSED = 3;

interface OptimizeCommandOptions extends PushFlags {
  output: string;
  steps: string;
  data: string;
  labels?: string;
  calibration?: string;
  maxAccuracyDrop: number;
  batch: number;
  outputName?: string;
  latency: boolean;
  threads?: number;
}

function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a fraction between 0 and 1 (0.01 = 1 point)');
  return n;
}

const pct = (x: number | undefined): string => (x === undefined ? '—' : `${(x * 100).toFixed(2)}%`);
const pts = (x: number): string => `${(x * 100).toFixed(2)}`;
const num = (x: number | null): string => (x === null ? '—' : x.toPrecision(3));
const ms = (x: number): string => (x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);

function latencyLine(before: LatencyStats, after: LatencyStats): string {
  return `  batch ${String(before.batch).padEnd(3)} p50 ${ms(before.p50Ms)} → ${ms(after.p50Ms)} (speedup ${(before.p50Ms / after.p50Ms).toFixed(2)}×); ` +
    `${before.throughput.toFixed(0)} → ${after.throughput.toFixed(0)} samples/s`;
}

/** The pipeline report as a table for a terminal. */
export function formatPipelineReport(r: PipelineReport, input: string, output: string): string {
  const lines: string[] = [];
  const metric = r.metric === 'top1' ? 'top-1 accuracy drop' : 'disagreement with the original';
  lines.push(`optimize ${input} → ${output}: ${r.samples} samples, output '${r.output}', bound: ${metric} ≤ ${pts(r.maxAccuracyDrop)} points`);
  lines.push(`measured on: ${describeCpu(r.cpu)}`);
  const header = ['step', 'size', 'ratio', 'top-1', 'drop (pts)', 'agreement', 'max |Δ|', 'time'];
  const rows: string[][] = [['original', formatBytes(r.original.bytes), '1.000', pct(r.original.accuracy), '—', '—', '—', '—']];
  for (const s of r.steps) {
    rows.push([
      `${s.index} ${s.step}${s.ok ? '' : '  ✗'}`,
      formatBytes(s.bytes),
      s.sizeRatio.toFixed(3),
      pct(s.accuracy),
      pts(s.drop),
      pct(s.agreement),
      num(s.maxAbsError),
      `${s.seconds.toFixed(2)} s`,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  lines.push(line(header));
  for (const row of rows) lines.push(line(row));
  const before = r.original.latency;
  const after = r.final?.latency;
  if (before && after) {
    lines.push('latency (median of rounds):');
    lines.push(latencyLine(before.batch1, after.batch1));
    lines.push(latencyLine(before.batchN, after.batchN));
  }
  return lines.join('\n') + '\n';
}

export function registerOptimize(program: Command): void {
  const command = program
    .command('optimize')
    .description('run prune/quantize/fp16/opset steps in order, evaluating after each; refuse when accuracy drops more than the bound')
    .argument('[model]', 'input .onnx file (or --from REF)')
    .requiredOption('-o, --output <file>', 'where to write the optimized model (only written if every step meets the bound)')
    .requiredOption('--steps <list>', `comma-separated steps: ${STEP_SYNTAX}`)
    .requiredOption('--data <file>', 'evaluation inputs (.npy, .npz, .json, .csv or a directory of NAME.npy); calibration data of quantize=static')
    .option('--labels <file>', 'class labels (.npy, .json, .csv): the bound applies to top-1 accuracy; without labels, to disagreement with the original')
    .option('--calibration <file>', 'calibration inputs for quantize=static (default: --data)')
    .option('--max-accuracy-drop <fraction>', 'largest allowed drop (0.01 = 1 point)', fraction, 0.01)
    .option('--batch <n>', 'evaluation batch size', positiveInteger('--batch'), 32)
    .option('--output-name <name>', "model output to score (default: the first)")
    .option('--no-latency', 'skip the before/after latency measurement')
    .option('--threads <n>', 'onnxruntime intra-op threads for evaluation', positiveInteger('--threads'))
    .option('--json', 'print the report as JSON (also when refusing)');
  addPushOptions(command)
    .action(async (inputArg: string | undefined, opts: OptimizeCommandOptions) => {
      try {
        checkPushFlags(opts, opts.output);
        const source = await inputFromRegistry(inputArg, opts);
        const input = source.path;
        const steps = parseSteps(opts.steps);
        const model = await loadModel(input);
        const inputNames = modelInputSpecs(model).map((s) => s.name);
        const [data, labels, calibration] = await Promise.all([
          readDataset(opts.data, { inputNames }),
          opts.labels ? readLabels(opts.labels) : undefined,
          opts.calibration ? readDataset(opts.calibration, { inputNames }) : undefined,
        ]);
        const tty = process.stderr.isTTY && !opts.json;
        const result = await runPipeline(model, steps, {
          data,
          labels,
          calibration,
          maxAccuracyDrop: opts.maxAccuracyDrop,
          batch: opts.batch,
          outputName: opts.outputName,
          latency: opts.latency,
          sessionOptions: opts.threads ? { intraOpNumThreads: opts.threads } : undefined,
          onProgress: tty
            ? (p) => {
                if (p.phase !== 'done') process.stderr.write(`\r\x1b[K[${p.index}/${p.total}] ${p.step}: ${p.phase === 'transform' ? 'transforming' : 'evaluating'}…`);
                else process.stderr.write('\r\x1b[K');
              }
            : undefined,
        });
        if (result.ok) {
          const saved = await saveModel(result.model, opts.output);
          const bytes = saved.modelBytes + (saved.externalData?.bytes ?? 0);
          const pushed = opts.push ? await pushDerived(opts.output, source, opts, `optimize ${opts.steps} of ${source.label}`) : undefined;
          const registered = pushed ? `${pushed.name}:${pushed.version}` : undefined;
          if (opts.json) {
            process.stdout.write(`${JSON.stringify({ ...result.report, written: { path: opts.output, bytes }, ...(registered ? { registered } : {}) }, null, 2)}\n`);
          } else {
            process.stdout.write(formatPipelineReport(result.report, source.label, opts.output));
            process.stdout.write(`wrote ${opts.output} (${formatBytes(bytes)}, ${(bytes / result.report.original.bytes).toFixed(3)}× the original)\n`);
            if (registered) process.stdout.write(`registered ${registered}\n`);
          }
          return;
        }
        const refusal = result.report.refusal!;
        if (opts.json) process.stdout.write(`${JSON.stringify(result.report, null, 2)}\n`);
        else process.stdout.write(formatPipelineReport(result.report, source.label, opts.output));
        process.stderr.write(`error: refused: ${refusal.message}; nothing written to ${opts.output}\n`);
        process.exitCode = EXIT_REFUSED;
      } catch (err) {
        reportError(err);
      }
    });
}
