/**
 * The check that keeps src/grpc/generated/ in step with the .proto files (scripts/
 * check-generated.mjs, the first step of `npm test`): it passes on a faithful copy and fails,
 * naming the file, on a stale, missing or leftover one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GENERATED = join('src', 'grpc', 'generated');

function check(root: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-generated.mjs'), root], { encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}

function copyOfGenerated(): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-gen-check-'));
  cpSync(join(ROOT, GENERATED), join(root, GENERATED), { recursive: true });
  return root;
}

describe('scripts/check-generated.mjs', () => {
  test('the checked-in generated types are up to date', () => {
    const r = check(ROOT);
    assert.equal(r.status, 0, r.output);
  });

  test('a stale, a missing and a leftover file each fail the check', () => {
    const root = copyOfGenerated();
    try {
      assert.equal(check(root).status, 0);
      appendFileSync(join(root, GENERATED, 'inference', 'ModelInferRequest.ts'), '// edited by hand\n');
      unlinkSync(join(root, GENERATED, 'inference', 'InferParameter.ts'));
      writeFileSync(join(root, GENERATED, 'inference', 'Old.ts'), 'export {};\n');
      const r = check(root);
      assert.equal(r.status, 1);
      assert.match(r.output, /stale: src[/\\]grpc[/\\]generated[/\\]inference[/\\]ModelInferRequest\.ts/);
      assert.match(r.output, /missing: src[/\\]grpc[/\\]generated[/\\]inference[/\\]InferParameter\.ts/);
      assert.match(r.output, /not generated any more: src[/\\]grpc[/\\]generated[/\\]inference[/\\]Old\.ts/);
      assert.match(r.output, /npm run gen/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
