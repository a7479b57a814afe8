/**
 * `berth monitor profile NAME:VERSION --data X.npy [--outputs Y.npy] [--model model.onnx]`:
 * builds the drift reference profile of a model version from a dataset (the training data, or
 * a `berth capture export`) and saves it where `berth serve` looks for it
 * (HOME/monitor/profiles/NAME/VERSION.json). `berth monitor show NAME:VERSION` prints one.
 */
import type { Command } from 'commander';
import { loadModel } from '../../onnx/index.js';
import { modelInputSpecs, readDataset } from '../../datasets/index.js';
import type { ProfileSignature } from '../../monitor/drift/profile.js';
import { buildProfile, loadProfile, profilePath, saveProfile } from '../../monitor/drift/profile.js';
import { berthHome } from '../../config/defaults.js';
import { fail } from '../fail.js';

interface ProfileFlags {
  data: string;
  outputs?: string;
  model?: string;
  home?: string;
  json?: boolean;
}

/** `NAME:VERSION` → its parts. */
export function parseModelVersion(ref: string): { model: string; version: string } {
  const i = ref.lastIndexOf(':');
  if (i <= 0 || i === ref.length - 1) throw new Error(`expected NAME:VERSION (e.g. digits:1), got '${ref}'`);
  return { model: ref.slice(0, i), version: ref.slice(i + 1) };
}

function fmt(x: number | undefined): string {
  return x === undefined ? '-' : Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : x.toFixed(4);
}

export function registerMonitorCommands(program: Command): void {
  const monitor = program.command('monitor').description('model monitoring: drift reference profiles');

  monitor
    .command('profile')
    .description('build and save the drift reference profile of a model version from a dataset')
    .argument('<model:version>', 'e.g. digits:1')
    .requiredOption('--data <file>', 'reference inputs: .npy, .npz, .json, .csv, or a directory of NAME.npy (first axis = samples)')
    .option('--outputs <file>', "the model's outputs for the same samples (prediction-drift reference); default: built from the first live requests")
    .option('--model <file>', 'the .onnx file, to name the data after its inputs (default: a single array feeds the only input)')
    .option('--home <dir>', 'berth home [default: $BERTH_HOME or ~/.berth]')
    .option('--json', 'print the profile summary as JSON')
    .action(async (ref: string, flags: ProfileFlags) => {
      try {
        const { model, version } = parseModelVersion(ref);
        let signature: ProfileSignature | undefined;
        let inputNames: string[] | undefined;
        if (flags.model) {
          const specs = modelInputSpecs(await loadModel(flags.model, { externalData: false }));
          signature = { inputs: specs.map((s) => ({ name: s.name, datatype: s.datatype, shape: s.shape })) };
          inputNames = specs.map((s) => s.name);
        }
        const data = await readDataset(flags.data, { inputNames });
        const outputs = flags.outputs ? await readDataset(flags.outputs) : undefined;
        if (outputs && outputs.samples !== data.samples) throw new Error(`--outputs has ${outputs.samples} samples, --data has ${data.samples}`);
        const profile = buildProfile(data, signature, { model, version, outputs });
        const home = flags.home ?? berthHome();
        const path = await saveProfile(home, model, version, profile);
        const summary = {
          model,
          version,
          path,
          samples: profile.samples,
          inputs: profile.inputs.map((t) => ({ name: t.name, mode: t.mode, features: t.features.length })),
          outputs: profile.outputs?.map((t) => ({ name: t.name, mode: t.mode, features: t.features.length })) ?? null,
        };
        if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        else {
          process.stdout.write(`saved the drift reference of ${model}:${version} (${profile.samples} samples) to ${path}\n`);
          for (const t of summary.inputs) process.stdout.write(`  input ${t.name}: ${t.features} features (${t.mode === 'summary' ? 'per-sample mean, std, L2 norm and 8 random projections' : 'one per element'})\n`);
          for (const t of summary.outputs ?? []) process.stdout.write(`  output ${t.name}: ${t.features} features\n`);
          if (!summary.outputs) process.stdout.write('  outputs: built from the first live requests when served\n');
        }
      } catch (err) {
        fail(err);
      }
    });

  monitor
    .command('show')
    .description('print a saved drift reference profile')
    .argument('<model:version>', 'e.g. digits:1')
    .option('--home <dir>', 'berth home [default: $BERTH_HOME or ~/.berth]')
    .option('--json', 'print the whole profile as JSON')
    .action(async (ref: string, flags: { home?: string; json?: boolean }) => {
      try {
        const { model, version } = parseModelVersion(ref);
        const home = flags.home ?? berthHome();
        const profile = await loadProfile(home, model, version);
        if (!profile) throw new Error(`no drift profile for ${model}:${version} at ${profilePath(home, model, version)}`);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(profile, null, 2)}\n`);
          return;
        }
        process.stdout.write(`${model}:${version}: ${profile.samples} samples from ${profile.source}, made ${profile.created}\n`);
        for (const [side, tensors] of [['input', profile.inputs], ['output', profile.outputs ?? []]] as const) {
          for (const t of tensors) {
            process.stdout.write(`${side} ${t.name} (${t.datatype} [${t.shape.join(', ')}], ${t.mode})\n`);
            for (const f of t.features) {
              const cats = f.kind === 'categorical' && f.distinct ? ` values ${Object.keys(f.distinct).slice(0, 8).join(',')}` : '';
              process.stdout.write(`  ${f.name.padEnd(24)} ${f.kind.padEnd(11)} mean ${fmt(f.mean)} std ${fmt(f.std)} p5 ${fmt(f.quantiles?.['0.05'])} p50 ${fmt(f.quantiles?.['0.5'])} p95 ${fmt(f.quantiles?.['0.95'])}${cats}\n`);
            }
          }
        }
      } catch (err) {
        fail(err);
      }
    });
}
