/** Runs the `inspect` command on its own, as the berth CLI would (used by inspect.test.ts). */
import { Command } from 'commander';
import { registerInspect } from '../../src/cli/commands/inspect.js';

const program = new Command('berth');
registerInspect(program);
await program.parseAsync(process.argv);
