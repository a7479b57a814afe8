/**
 * `berth quantize IN -o OUT --mode dynamic|static|weight-only [...]`: quantize a model and print
 * what was done. The model is read without its external data (tensors are read one at a time
 * while quantizing) and written atomically; external data is written when the input had it or
 * the output would exceed protobuf's 2 GB.
 */
import { basename, dirname } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { forEachTensor, loadModel, mapTensors, saveModel, type ModelProto } from '../../onnx/index.js';
import { isExternal } from '../../onnx/external.js';
import { datasetOptionsFor, readDataset } from '../../datasets/index.js';
import { formatReport, quantize, type QuantizeOptions } from '../../optimize/quantize/index.js';
import { formatBytes } from '../../optimize/quantize/report.js';
import { CPU_TARGETS, type CpuTarget } from '../../runtime/cpu-features.js';
import { addPushOptions, checkPushFlags, inputFromRegistry, pushDerived, type PushFlags } from './registry.js';

interface QuantizeCommandOptions extends PushFlags {
  output: string;
  mode: 'dynamic' | 'static' | 'weight-only';
  bits: 8 | 4;
  blockSize?: 32 | 64 | 128;
  accuracyLevel?: 0 | 1 | 2 | 3 | 4;
  symmetric?: boolean;
  perChannel?: boolean;
  reduceRange?: boolean | 'auto';
  targetCpu?: CpuTarget;
  calibration?: string;
  calibrationMethod?: 'minmax' | 'entropy' | 'percentile';
  calibrationBins?: number;
  percentile?: number;
  activationType?: 'int8' | 'uint8' | 'int16';
  form?: 'fused' | 'standard';
  exclude?: string[];
  opTypes?: string[];
}

function oneOf<T extends number>(name: string, allowed: readonly T[]): (value: string) => T {
  return (value: string) => {
    const n = Number(value);
    if (!allowed.includes(n as T)) throw new InvalidArgumentError(`${name} must be one of ${allowed.join(', ')}`);
    return n as T;
  };
}

/** --reduce-range [on|off|auto]; the bare flag (as before) means on. */
function reduceRange(value: string): boolean | 'auto' {
  if (value === 'on') return true;
  if (value === 'off') return false;
  if (value === 'auto') return 'auto';
  throw new InvalidArgumentError('--reduce-range must be on, off or auto');
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function positive(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function percentile(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 100)) throw new InvalidArgumentError('--percentile must be in (0, 100]');
  return n;
}

/** A progress bar on stderr, redrawn in place; only used when stderr is a terminal. */
function progressBar(): { update: (done: number, total: number, what: string) => void; clear: () => void } {
  let last = 0;
  let shown = false;
  return {
    update(done, total, what) {
      const now = Date.now();
      if (now - last < 80 && done < total) return;
      last = now;
      const width = 30;
      const filled = total > 0 ? Math.round((width * done) / total) : 0;
      const cols = process.stderr.columns ?? 80;
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${what}`;
      process.stderr.write(`\r\x1b[K${line.slice(0, cols - 1)}`);
      shown = true;
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

function hasExternalData(model: ModelProto): boolean {
  let any = false;
  forEachTensor(model, (t) => {
    if (isExternal(t)) any = true;
  });
  return any;
}

/** The model with every raw_data that is a view into a larger buffer copied out of it. */
function detach(model: ModelProto): ModelProto {
  return mapTensors(model, (t) => {
    const raw = t.rawData;
    if (!raw || raw.byteLength === raw.buffer.byteLength) return t;
    return { ...t, rawData: raw.slice() };
  });
}

/** How a quantization is described in the lineage of a pushed version. */
function describeQuantize(opts: QuantizeCommandOptions): string {
  if (opts.mode === 'dynamic') return 'quantize dynamic int8';
  if (opts.mode === 'weight-only') return `quantize weight-only int${opts.bits}${opts.bits === 4 ? ` block ${opts.blockSize ?? 32}` : ''}`;
  return `quantize static QDQ ${opts.activationType ?? 'uint8'} activations (${opts.calibrationMethod ?? 'minmax'} calibration)`;
}

export function registerQuantize(program: Command): void {
  const command = program
    .command('quantize')
    .description('quantize a model: dynamic int8, static QDQ with calibration, or weight-only int8/int4')
    .argument('[model]', 'input .onnx file (or --from REF)')
    .requiredOption('-o, --output <file>', 'where to write the quantized model')
    .addOption(new Option('--mode <mode>', 'dynamic: int8 weights, activations quantized at run time; static: QDQ with calibrated activation ranges; weight-only: int8 or int4 weights, float activations').choices(['dynamic', 'static', 'weight-only']).makeOptionMandatory())
    .option('--bits <n>', 'weight-only: 8 (DequantizeLinear) or 4 (com.microsoft MatMulNBits)', oneOf('--bits', [8, 4] as const), 8)
    .option('--block-size <n>', 'int4: elements per block along K (32, 64 or 128; default 32)', oneOf('--block-size', [32, 64, 128] as const))
    .option('--accuracy-level <n>', 'int4: MatMulNBits accuracy_level (0 = fp32 activations ... 4 = int8 activations; default 4)', oneOf('--accuracy-level', [0, 1, 2, 3, 4] as const))
    .option('--symmetric', 'int4: symmetric blocks without zero points')
    .option('--per-channel', 'one weight scale per output channel')
    .option('--reduce-range [mode]', 'on: 7-bit int8 weights (ORT reduce_range); off: full range; auto (default): on when the target CPU is x86-64 without VNNI, where u8s8 products can saturate', reduceRange)
    .addOption(new Option('--target-cpu <cpu>', "the CPU the model will run on (default: this machine's): vnni (x86-64 with VNNI), avx2 (x86-64 without VNNI), arm64, any").choices([...CPU_TARGETS]))
    .option('--calibration <data>', 'static: calibration inputs (.npy, .npz, .json, .csv or a directory of NAME.npy)')
    .addOption(new Option('--calibration-method <method>', 'static: how activation ranges are chosen').choices(['minmax', 'entropy', 'percentile']))
    .option('--calibration-bins <n>', 'static entropy/percentile: histogram bins (default 128 / 2048)', positive('--calibration-bins'))
    .option('--percentile <p>', 'static percentile: the percentile kept (default 99.999)', percentile)
    .addOption(new Option('--activation-type <type>', 'static: activation type (default uint8)').choices(['int8', 'uint8', 'int16']))
    .addOption(new Option('--form <form>', 'dynamic: fused (com.microsoft.DynamicQuantizeMatMul, default) or standard (DynamicQuantizeLinear + MatMulInteger)').choices(['fused', 'standard']))
    .option('--exclude <nodes>', 'comma-separated node names to keep in float', list)
    .option('--op-types <ops>', 'comma-separated op types to quantize (default MatMul,Gemm; static adds Conv)', list)
    .option('--json', 'print the report as JSON');
  addPushOptions(command)
    .action(async (inputArg: string | undefined, opts: QuantizeCommandOptions) => {
      const bar = process.stderr.isTTY && !opts.json ? progressBar() : undefined;
      try {
        checkPushFlags(opts, opts.output);
        const source = await inputFromRegistry(inputArg, opts);
        const input = source.path;
        if (opts.mode === 'static' && !opts.calibration) throw new Error('static quantization needs --calibration DATA');
        if (opts.bits === 4 && opts.mode !== 'weight-only') throw new Error('--bits 4 is weight-only: use --mode weight-only --bits 4');
        let model: ModelProto | undefined = await loadModel(input, { externalData: false });
        const baseDir = dirname(input);
        const calibration = opts.calibration ? await readDataset(opts.calibration, datasetOptionsFor(model)) : undefined;
        const options: QuantizeOptions = {
          mode: opts.mode,
          bits: opts.bits,
          blockSize: opts.blockSize,
          accuracyLevel: opts.accuracyLevel,
          symmetric: opts.symmetric,
          perChannel: opts.perChannel,
          reduceRange: opts.reduceRange,
          targetCpu: opts.targetCpu,
          calibration,
          calibrationMethod: opts.calibrationMethod,
          activationType: opts.activationType,
          dynamicForm: opts.form,
          exclude: opts.exclude,
          opTypes: opts.opTypes,
          externalDataDir: baseDir,
          onProgress: bar?.update,
        };
        if (opts.calibrationBins !== undefined || opts.percentile !== undefined) {
          options.calibrationSettings = { numBins: opts.calibrationBins, percentile: opts.percentile };
        }
        const result = await quantize(model, options);
        bar?.clear();
        const report = result.report;
        // Tensors left external (not quantized) are copied from the input's side file.
        const external = hasExternalData(model);
        // Unquantized tensors still point into the input file's buffer: copy them, and drop the
        // input, so that buffer can be freed before the output is encoded (peak memory).
        model = undefined;
        const out = detach(result.model);
        const saved = await saveModel(out, opts.output, {
          sourceDir: baseDir,
          ...(external ? { externalData: { location: `${basename(opts.output)}.data` } } : {}),
        });
        const bytes = saved.modelBytes + (saved.externalData?.bytes ?? 0);
        const pushed = opts.push ? await pushDerived(opts.output, source, opts, `${describeQuantize(opts)} of ${source.label}`) : undefined;
        const registered = pushed ? `${pushed.name}:${pushed.version}` : undefined;
        if (opts.json) {
          const written = { path: opts.output, bytes, externalData: saved.externalData?.path };
          process.stdout.write(`${JSON.stringify({ ...report, written, ...(registered ? { registered } : {}) }, null, 2)}\n`);
        } else {
          process.stdout.write(formatReport(report));
          const side = saved.externalData ? ` + ${saved.externalData.path}` : '';
          process.stdout.write(`\nwrote ${opts.output}${side} (${formatBytes(bytes)})\n`);
          if (registered) process.stdout.write(`registered ${registered}\n`);
        }
      } catch (err) {
        bar?.clear();
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(`error: ${message.split('\n')[0]}\n`);
        process.exitCode = 1;
      }
    });
}
