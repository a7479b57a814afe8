// Runs before `npm start` and `npm test` so both work straight after `git clone`:
// installs dependencies if node_modules is missing and builds dist/ (server and dashboard) if it is missing.
// Node built-ins only: nothing else is installed yet when this runs.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit' });

if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.error('berth: installing dependencies (npm ci)…');
  run('npm ci --no-audit --no-fund');
} else if (!['cli/main.js', 'web/index.html', 'grpc/inference.proto'].every((f) => existsSync(join(root, 'dist', f)))) {
  // grpc/inference.proto: copied by the build since the server loads it at run time
  console.error('berth: building (npm run build)…');
  run('npm run build');
}
