/** Runs berth's convert and prune commands alone, for the CLI tests: node --import tsx cli-runner.ts convert ... */
import { Command } from 'commander';
import { registerConvert } from '../../src/cli/commands/convert.js';
import { registerPrune } from '../../src/cli/commands/prune.js';

const program = new Command().name('berth');
registerConvert(program);
registerPrune(program);
await program.parseAsync(process.argv);
