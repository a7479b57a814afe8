/**
 * The registry commands and the model tools with --push, as one program, so the CLI tests do not
 * depend on a build of dist/ (the real entry point is src/cli/main.ts).
 */
import { Command } from 'commander';
import { registerRegistryCommands } from '../../src/cli/commands/registry.js';
import { registerPrune } from '../../src/cli/commands/prune.js';
import { registerConvert } from '../../src/cli/commands/convert.js';
import { registerQuantize } from '../../src/cli/commands/quantize.js';

const program = new Command().name('berth');
registerRegistryCommands(program);
registerPrune(program);
registerConvert(program);
registerQuantize(program);
await program.parseAsync(process.argv);
