/**
 * The access table in docs/admin-api.md is the code's table: every REST route and gRPC method
 * with its access class and category, no more, no less.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REST_ROUTES } from '../../src/http/route-scopes.js';
import { GRPC_METHODS } from '../../src/serving/access.js';

test('docs/admin-api.md lists every access rule exactly as the code has it', () => {
  const doc = readFileSync(new URL('../../docs/admin-api.md', import.meta.url), 'utf8');
  const block = /<!-- access-table:start[^>]*-->([\s\S]*?)<!-- access-table:end -->/.exec(doc);
  assert.ok(block, 'the access table markers are in docs/admin-api.md');
  const documented = new Map<string, string>();
  for (const line of block[1]!.split('\n')) {
    const m = /^\| (GET|POST|PUT|PATCH|DELETE|gRPC) \| `([^`]+)` \| ([a-z]+) \| ([a-z-]+) \|$/.exec(line.trim());
    if (!m) continue;
    const key = m[1] === 'gRPC' ? `gRPC ${m[2]}` : `${m[1]} ${m[2]}`;
    assert.ok(!documented.has(key), `${key} is documented twice`);
    documented.set(key, `${m[3]} ${m[4]}`);
  }
  const code = new Map<string, string>([
    ...Object.entries(REST_ROUTES).map(([k, r]) => [k, `${r.access} ${r.category}`] as [string, string]),
    ...Object.entries(GRPC_METHODS).map(([k, r]) => [`gRPC ${k}`, `${r.access} ${r.category}`] as [string, string]),
  ]);
  assert.deepEqual(Object.fromEntries([...documented].sort()), Object.fromEntries([...code].sort()));
});
