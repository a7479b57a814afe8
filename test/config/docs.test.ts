import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { withCurrentTable } from '../../src/config/docs.js';
import { leafKeys } from '../../src/config/walk.js';

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

test('docs/configuration.md lists the schema\'s keys as they are (run: node --import tsx scripts/config-docs.ts)', () => {
  assert.equal(doc, withCurrentTable(doc));
  for (const leaf of leafKeys()) assert.ok(doc.includes(`| \`${leaf.path.join('.')}\` |`), leaf.path.join('.'));
});

test('the example config file in docs/configuration.md passes the schema', () => {
  const block = /```yaml\n# berth\.yaml\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'the berth.yaml example');
  const secret = join(mkdtempSync(join(tmpdir(), 'berth-doc-')), 'admin-secret');
  writeFileSync(secret, 'a-long-enough-admin-secret');
  const config = parseConfig(parse(block[1]!.replace('@/run/secrets/berth-admin', `@${secret}`)), 'docs/configuration.md');
  assert.equal(config.http.host, '0.0.0.0');
  assert.equal(config.models.instances, 2);
});
