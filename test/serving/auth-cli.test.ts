/**
 * The access flags of `berth serve`, end to end through the built CLI: --allowed-hosts,
 * --allowed-origins and --restricted-api (value from a file) reach the server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCliServer } from '../helpers/cli-server.js';
import type { ChildServer } from '../helpers/cli-server.js';
import { tempDir, writeAffine } from '../helpers/models.js';
import { rawRequest } from './auth-helpers.js';

let server: ChildServer;
let port: number;

before(async () => {
  const repo = tempDir('berth-auth-cli-');
  await writeAffine(repo, 'affine');
  const secret = join(repo, '..', 'secret');
  writeFileSync(secret, 'cli-secret-value-42\n');
  server = await startCliServer([
    repo, '--model-control', 'explicit', '--load-model', '*',
    '--allowed-hosts', 'berth.test', '--allowed-origins', 'https://app.test',
    '--restricted-api', `model-repository:x-berth-admin=@${secret}`,
  ]);
  port = Number(new URL(server.url).port);
});

after(async () => {
  await server?.stop();
});

test('berth serve --allowed-hosts, --allowed-origins, --restricted-api', async () => {
  const host = { host: `berth.test:${port}` };
  assert.equal((await rawRequest(port, 'GET', '/v2/models/affine', host)).status, 200);
  const foreign = await rawRequest(port, 'GET', '/v2/models/affine');
  assert.equal(foreign.status, 403, `127.0.0.1 is not on the list: ${foreign.body}`);
  const admin = { ...host, 'x-berth-admin': 'cli-secret-value-42' };
  assert.equal((await rawRequest(port, 'POST', '/v2/repository/models/affine/load', host, '{}')).status, 403, 'restricted');
  assert.equal((await rawRequest(port, 'POST', '/v2/repository/models/affine/load', { ...admin, origin: 'https://evil.test' }, '{}')).status, 403, 'foreign origin');
  const ok = await rawRequest(port, 'POST', '/v2/repository/models/affine/load', { ...admin, origin: 'https://app.test' }, '{}');
  assert.equal(ok.status, 200, ok.body);
});
