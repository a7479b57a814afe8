/**
 * A process that pushes one model: `node --import tsx push-child.ts HOME CATALOG_URL FILE NAME`.
 * It imports everything first, prints `ready`, waits for a line on stdin, then opens the
 * registry and pushes, printing each phase (`phase copying`, ...) and `pushed NAME:VERSION MS`. The crash and concurrency tests start
 * it ahead of time so that what they time (or kill) is the push itself.
 */
import { Registry } from '../../src/registry/registry.js';

const [home, catalogUrl, file, name] = process.argv.slice(2);
process.stdout.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.pause();
const t0 = performance.now();
const registry = await Registry.open({ home, catalogUrl: catalogUrl || undefined });
const v = await registry.push(file, { name, actor: 'push-child', onProgress: (phase) => process.stdout.write(`phase ${phase}\n`) });
await registry.close();
process.stdout.write(`pushed ${v.name}:${v.version} ${(performance.now() - t0).toFixed(1)}\n`);
