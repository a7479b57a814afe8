/**
 * `berth capture export MODEL [--version V] [--since T] [--until T] -o OUT [--outputs]`:
 * turns captured predictions into a dataset (first axis = samples) for retraining and drift
 * references. `berth capture info`: what the store holds.
 */
import type { Command } from 'commander';
import { captureDir } from '../../monitor/capture/store.js';
import { concatenate, listSegments, parseTime, readCaptured, writeExport, writeIds } from '../../monitor/capture/export.js';
import { berthHome } from '../../config/defaults.js';
import { fail } from '../fail.js';

interface ExportFlags {
  version?: string;
  since?: string;
  until?: string;
  output: string;
  outputs?: boolean;
  tensor?: string;
  ids?: string;
  home?: string;
  json?: boolean;
}

export function registerCaptureCommands(program: Command): void {
  const capture = program.command('capture').description('prediction capture (berth serve --capture-rate R): export captured requests as datasets');

  capture
    .command('export')
    .description('write captured inputs (or outputs) of a model as .npy, first axis = samples')
    .argument('<model>', 'model name')
    .requiredOption('-o, --output <path>', 'an .npy file (one tensor), or a directory that gets NAME.npy per tensor')
    .option('--version <v>', 'only this model version')
    .option('--since <time>', 'from this time: ISO date, epoch ms, or a duration ago (30m, 2h, 7d)')
    .option('--until <time>', 'before this time (same forms)')
    .option('--outputs', "export the model's outputs instead of its inputs")
    .option('--tensor <name>', 'export only this tensor')
    .option('--ids <file>', 'also write the request id of each sample, one per line (to join labels)')
    .option('--home <dir>', 'berth home [default: $BERTH_HOME or ~/.berth]')
    .option('--json', 'print the summary as JSON')
    .action(async (model: string, flags: ExportFlags) => {
      try {
        const now = Date.now();
        const since = flags.since === undefined ? undefined : parseTime(flags.since, now);
        const until = flags.until === undefined ? undefined : parseTime(flags.until, now);
        const side = flags.outputs ? 'outputs' : 'inputs';
        const dir = captureDir(flags.home ?? berthHome());
        const records = await readCaptured(dir, { model, version: flags.version, since, until, want: side });
        if (records.length === 0) throw new Error(`no captured requests of model '${model}'${flags.version ? ` version ${flags.version}` : ''} in ${dir}${since !== undefined ? ` since ${new Date(since).toISOString()}` : ''}`);
        const result = concatenate(records, side);
        const files = await writeExport(result, flags.output, flags.tensor);
        if (flags.ids) await writeIds(result, flags.ids);
        const summary = {
          model,
          version: flags.version ?? null,
          side,
          records: result.records,
          samples: result.samples,
          skipped_records: result.skipped,
          files,
          tensors: result.tensors.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
          not_exported: result.unsupported,
          from: new Date(records[0].time).toISOString(),
          to: new Date(records[records.length - 1].time).toISOString(),
        };
        if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        else {
          process.stdout.write(`exported ${result.samples} samples (${result.records} requests, ${summary.from} .. ${summary.to}) of ${model} ${side}:\n`);
          for (const t of summary.tensors) process.stdout.write(`  ${t.name} ${t.datatype} [${t.shape.join(', ')}]\n`);
          for (const f of files) process.stdout.write(`  -> ${f}\n`);
          if (result.skipped) process.stdout.write(`  (${result.skipped} requests left out: their tensor shapes differ from the first request's)\n`);
          if (result.unsupported.length) process.stdout.write(`  (BYTES tensors not exported: ${result.unsupported.join(', ')})\n`);
        }
      } catch (err) {
        fail(err);
      }
    });

  capture
    .command('info')
    .description('what the capture store holds: segments, bytes, requests per model version, time range')
    .option('--home <dir>', 'berth home [default: $BERTH_HOME or ~/.berth]')
    .option('--json', 'print as JSON')
    .action(async (flags: { home?: string; json?: boolean }) => {
      try {
        const dir = captureDir(flags.home ?? berthHome());
        const segments = await listSegments(dir);
        const records = await readCaptured(dir, { want: 'inputs' });
        const byVersion = new Map<string, { model: string; version: string; requests: number; samples: number; from: number; to: number }>();
        for (const r of records) {
          const key = `${r.model}\u0000${r.version}`;
          const e = byVersion.get(key) ?? { model: r.model, version: r.version, requests: 0, samples: 0, from: r.time, to: r.time };
          e.requests++;
          e.samples += r.rows;
          e.from = Math.min(e.from, r.time);
          e.to = Math.max(e.to, r.time);
          byVersion.set(key, e);
        }
        const info = {
          dir,
          segments: segments.length,
          bytes: segments.reduce((s, x) => s + x.bytes, 0),
          models: [...byVersion.values()].map((e) => ({ ...e, from: new Date(e.from).toISOString(), to: new Date(e.to).toISOString() })),
        };
        if (flags.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        else {
          process.stdout.write(`${dir}: ${info.segments} segments, ${(info.bytes / 1024 / 1024).toFixed(2)} MiB\n`);
          for (const m of info.models) process.stdout.write(`  ${m.model} v${m.version}: ${m.requests} requests, ${m.samples} samples, ${m.from} .. ${m.to}\n`);
        }
      } catch (err) {
        fail(err);
      }
    });
}
