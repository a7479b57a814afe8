/**
 * `berth prune IN -o OUT --sparsity S [--structured] [--scope global|per-layer] [--exclude NODE,...] [--json]`:
 * magnitude pruning of MatMul/Gemm/Conv weights. The output is written atomically; on any error
 * nothing is written and the exit code is 1.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { loadModel, saveModel } from '../../onnx/index.js';
import { prune, type PruneReport } from '../../optimize/prune.js';
import { addPushOptions, checkPushFlags, inputFromRegistry, pushDerived, type PushFlags } from './registry.js';

interface PruneFlags extends PushFlags {
  output: string;
  sparsity: number;
  structured?: boolean;
  scope?: 'global' | 'per-layer';
  exclude?: string[];
}

function sparsityValue(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`expected a fraction in [0, 1), e.g. 0.5, got '${value}'`);
  return n;
}

function scopeValue(value: string): 'global' | 'per-layer' {
  if (value === 'global' || value === 'per-layer') return value;
  throw new InvalidArgumentError(`expected global or per-layer, got '${value}'`);
}

function nameList(value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError('expected node names separated by commas');
  return names;
}

function size(n: number | null): string {
  if (n === null) return '—';
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function formatPruneReport(r: PruneReport): string {
  const lines: string[] = [];
  lines.push(`${r.mode} pruning, ${r.mode === 'structured' ? 'output channels' : `scope ${r.scope}`}, target ${pct(r.targetSparsity)}`);
  const header = ['layer', 'op', 'shape', 'params', 'sparsity', 'bytes'];
  const rows = r.layers.map((l) => [
    l.name,
    l.op,
    l.shapeBefore.join('×') === l.shapeAfter.join('×') ? l.shapeAfter.join('×') : `${l.shapeBefore.join('×')} → ${l.shapeAfter.join('×')}`,
    l.params.before === l.params.after ? String(l.params.after) : `${l.params.before} → ${l.params.after}`,
    pct(l.sparsity),
    l.bytes.before === l.bytes.after ? size(l.bytes.after) : `${size(l.bytes.before)} → ${size(l.bytes.after)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  lines.push(line(header), ...rows.map(line));
  for (const s of r.skipped) lines.push(`  left as is: ${s.name} (${s.op}): ${s.reason}`);
  const t = r.totals;
  lines.push(`total: ${t.params.before} → ${t.params.after} weights, ${pct(t.sparsity)} zeros; parameters ${size(t.parameterBytes.before)} → ${size(t.parameterBytes.after)}`);
  lines.push(`file: ${size(t.modelBytes.before)} → ${size(t.modelBytes.after)}; gzip: ${size(t.gzipBytes.before)} → ${size(t.gzipBytes.after)}`);
  if (r.mode === 'unstructured') lines.push('note: zeroed weights keep the file size and onnxruntime CPU speed the same; they only compress better. Use --structured to shrink the model.');
  return lines.join('\n') + '\n';
}

export function registerPrune(program: Command): void {
  const command = program
    .command('prune')
    .description('magnitude-prune MatMul/Gemm/Conv weights (zeros, or whole channels with --structured)')
    .argument('[input]', 'the .onnx model to prune (or --from REF)')
    .requiredOption('-o, --output <path>', 'where to write the pruned model')
    .requiredOption('--sparsity <s>', 'fraction of weights (or channels with --structured) to remove, 0 ≤ s < 1', sparsityValue)
    .option('--structured', 'remove whole output channels (the model shrinks and gets faster)')
    .option('--scope <scope>', 'unstructured: global (one threshold) or per-layer (default)', scopeValue)
    .option('--exclude <nodes>', 'node names to leave untouched, comma-separated', nameList)
    .option('--json', 'print the report as JSON');
  addPushOptions(command)
    .action(async (inputArg: string | undefined, flags: PruneFlags) => {
      try {
        checkPushFlags(flags, flags.output);
        const source = await inputFromRegistry(inputArg, flags);
        const input = source.path;
        const model = await loadModel(input);
        const { model: pruned, report } = prune(model, { sparsity: flags.sparsity, structured: flags.structured, scope: flags.scope, exclude: flags.exclude });
        await saveModel(pruned, flags.output);
        const how = flags.structured ? 'structured' : `unstructured${flags.scope ? ` ${flags.scope}` : ''}`;
        const pushed = flags.push ? await pushDerived(flags.output, source, flags, `prune ${pct(flags.sparsity)} ${how} of ${source.label}`) : undefined;
        const registered = pushed ? `${pushed.name}:${pushed.version}` : undefined;
        if (flags.json) process.stdout.write(JSON.stringify({ input: source.label, output: flags.output, report, ...(registered ? { registered } : {}) }, null, 2) + '\n');
        else process.stdout.write(`${source.label} → ${flags.output}\n${formatPruneReport(report)}${registered ? `registered ${registered}\n` : ''}`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(`error: ${message.split('\n')[0]}\n`);
        process.exitCode = 1;
      }
    });
}
