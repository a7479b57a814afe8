#!/usr/bin/env node
/** The `berth` command line. Each command lives in cli/commands/NAME.ts. */
import './v8-tuning.js'; // first: V8 flags must be set before the hot allocation sites run
import { Command } from 'commander';
import { registerServe } from './commands/serve.js';
import { registerInspect } from './commands/inspect.js';
import { registerConvert } from './commands/convert.js';
import { registerPrune } from './commands/prune.js';
import { registerQuantize } from './commands/quantize.js';
import { registerEval } from './commands/eval.js';
import { registerOptimize } from './commands/optimize.js';
import { registerRegistryCommands } from './commands/registry.js';
import { registerRolloutCommands } from './commands/rollout.js';
import { registerCaptureCommands } from './commands/capture.js';
import { registerMonitorCommands } from './commands/monitor.js';
import { registerPackage } from './commands/package.js';
import { registerManifestsCommands } from './commands/manifests.js';
import { SERVER_VERSION } from '../core/inference-service.js';

const program = new Command();
program
  .name('berth')
  .description('Take a trained model to production and keep it healthy there.')
  .version(SERVER_VERSION);

registerServe(program);
registerInspect(program);
registerConvert(program);
registerPrune(program);
registerQuantize(program);
registerEval(program);
registerOptimize(program);
registerRegistryCommands(program);
registerRolloutCommands(program);
registerCaptureCommands(program);
registerMonitorCommands(program);
registerPackage(program);
registerManifestsCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
