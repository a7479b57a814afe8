/** `berth inspect <model>`: what a model expects and contains. */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatSummary, inspectModel } from '../../onnx/inspect.js';
import { loadModel } from '../../onnx/codec.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show a model\'s inputs, outputs, opsets, operators and parameter size')
    .argument('<model>', 'path to an .onnx file')
    .option('--json', 'print the summary as JSON')
    .action(async (path: string, opts: { json?: boolean }) => {
      try {
        // External data is not needed for a summary (sizes come from the references), so big
        // side files are never read. The model first: run together, a missing file's raw stat
        // error could win the race over loadModel's "no such file" message.
        const model = await loadModel(path, { externalData: false });
        const info = await stat(path);
        const summary = inspectModel(model, { fileBytes: info.size });
        process.stdout.write(opts.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(summary));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        process.stderr.write(`error: ${message.split('\n')[0]}\n`);
        process.exitCode = 1;
      }
    });
}
