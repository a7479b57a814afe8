/**
 * `berth convert IN -o OUT (--fp16 [--keep-io-types] [--block-ops A,B] | --opset N) [--json]`:
 * float16 conversion or ai.onnx opset up/down conversion. The output is written atomically
 * (temporary file, then rename); on any error nothing is written and the exit code is 1.
 */
import { stat } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { loadModel, saveModel } from '../../onnx/index.js';
import { DEFAULT_FP16_BLOCK_OPS, convertFp16, type Fp16Report } from '../../convert/fp16.js';
import { MAX_OPSET, MIN_TARGET_OPSET, convertOpset, type OpsetReport } from '../../convert/opset.js';
import { addPushOptions, checkPushFlags, inputFromRegistry, pushDerived, type PushFlags } from './registry.js';

interface ConvertFlags extends PushFlags {
  output: string;
  fp16?: boolean;
  keepIoTypes?: boolean;
  blockOps?: string[];
  opset?: number;
}

function opsetNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < MIN_TARGET_OPSET || n > MAX_OPSET) {
    throw new InvalidArgumentError(`expected an ai.onnx opset between ${MIN_TARGET_OPSET} and ${MAX_OPSET}, got '${value}'`);
  }
  return n;
}

function opList(value: string): string[] {
  const ops = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = ops.find((op) => !/^[A-Za-z][A-Za-z0-9_]*$/.test(op));
  if (ops.length === 0 || bad !== undefined) throw new InvalidArgumentError(`expected operator names separated by commas, got '${value}'`);
  return ops;
}

function kib(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export function formatFp16Report(r: Fp16Report): string {
  const lines = [
    `float16: ${r.tensorsConverted} tensors converted (${kib(r.weightBytes.before)} → ${kib(r.weightBytes.after)}), ${r.nodesFp16} nodes compute in float16`,
    `  kept float32: ${r.nodesFp32.length ? r.nodesFp32.map((n) => `${n.opType} ×${n.count}`).join(', ') : 'none'}; ${r.castsInserted} Cast nodes inserted`,
    `  graph inputs/outputs: ${r.keepIoTypes ? 'float32 (kept)' : 'float16'}`,
  ];
  if (r.clamped.toMinPositive || r.clamped.toMaxFinite) {
    lines.push(`  clamped: ${r.clamped.toMinPositive} values raised to the smallest positive, ${r.clamped.toMaxFinite} lowered to the largest finite`);
  }
  return lines.join('\n') + '\n';
}

export function formatOpsetReport(r: OpsetReport): string {
  const lines = [`opset ${r.fromOpset} → ${r.toOpset} (IR ${r.irVersion.from} → ${r.irVersion.to}): ${r.nodesRewritten} of ${r.nodes} nodes rewritten, ${r.nodesAdded} added`];
  const moved = r.operators.filter((o) => o.from !== o.to);
  if (moved.length) lines.push(`  operators: ${moved.map((o) => `${o.op}-${o.from}→${o.to ?? '?'}`).join(', ')}`);
  for (const s of r.summary) lines.push(`  ${s.from} → ${s.to}: ${s.change}${s.count > 1 ? ` (${s.count} nodes)` : ''}`);
  return lines.join('\n') + '\n';
}

export function registerConvert(program: Command): void {
  const command = program
    .command('convert')
    .description('convert a model to float16, or to another ai.onnx opset (up or down)')
    .argument('[input]', 'the .onnx model to convert (or --from REF)')
    .requiredOption('-o, --output <path>', 'where to write the converted model')
    .option('--fp16', 'convert float32 weights and computation to float16')
    .option('--keep-io-types', 'with --fp16: keep float32 graph inputs/outputs (Casts at the boundary)')
    .option('--block-ops <ops>', `with --fp16: more operators to keep in float32, comma-separated (added to the defaults: ${DEFAULT_FP16_BLOCK_OPS.length} ops, see docs/conversion.md)`, opList)
    .option('--opset <n>', `convert to this ai.onnx opset (${MIN_TARGET_OPSET}–${MAX_OPSET})`, opsetNumber)
    .option('--json', 'print the report as JSON');
  addPushOptions(command)
    .action(async (inputArg: string | undefined, flags: ConvertFlags) => {
      try {
        checkPushFlags(flags, flags.output);
        const source = await inputFromRegistry(inputArg, flags);
        const input = source.path;
        if (Boolean(flags.fp16) === (flags.opset !== undefined)) throw new Error('give exactly one of --fp16 or --opset N');
        if (!flags.fp16 && (flags.keepIoTypes || flags.blockOps)) throw new Error('--keep-io-types and --block-ops go with --fp16');
        const model = await loadModel(input);
        let result;
        if (flags.fp16) {
          const blockOps = [...new Set([...DEFAULT_FP16_BLOCK_OPS, ...(flags.blockOps ?? [])])];
          result = { kind: 'fp16' as const, ...convertFp16(model, { keepIoTypes: Boolean(flags.keepIoTypes), blockOps }) };
        } else {
          result = { kind: 'opset' as const, ...convertOpset(model, flags.opset!) };
        }
        const saved = await saveModel(result.model, flags.output);
        const inputBytes = (await stat(input)).size;
        const outputBytes = saved.modelBytes + (saved.externalData?.bytes ?? 0);
        const how = result.kind === 'fp16' ? `convert fp16${flags.keepIoTypes ? ' (float32 I/O kept)' : ''}` : `convert opset ${result.report.fromOpset} to ${result.report.toOpset}`;
        const pushed = flags.push ? await pushDerived(flags.output, source, flags, `${how} of ${source.label}`) : undefined;
        const registered = pushed ? `${pushed.name}:${pushed.version}` : undefined;
        if (flags.json) {
          process.stdout.write(JSON.stringify({ input: source.label, output: flags.output, mode: result.kind, bytes: { input: inputBytes, output: outputBytes }, report: result.report, ...(registered ? { registered } : {}) }, null, 2) + '\n');
        } else {
          process.stdout.write(`${source.label} (${kib(inputBytes)}) → ${flags.output} (${kib(outputBytes)})\n`);
          process.stdout.write(result.kind === 'fp16' ? formatFp16Report(result.report) : formatOpsetReport(result.report));
          if (registered) process.stdout.write(`registered ${registered}\n`);
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(`error: ${message.split('\n')[0]}\n`);
        process.exitCode = 1;
      }
    });
}
