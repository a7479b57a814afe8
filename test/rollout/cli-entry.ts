/** The rollout commands as their own program, so tests run them without depending on main.ts's wiring. */
import { Command } from 'commander';
import { registerRolloutCommands } from '../../src/cli/commands/rollout.js';

const program = new Command().name('berth');
registerRolloutCommands(program);
await program.parseAsync(process.argv);
