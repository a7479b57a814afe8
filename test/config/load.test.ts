import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, readConfigFile } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('config file, flags and environment', () => {
  test('precedence: defaults < environment < file < flags', async () => {
    const yaml = file('berth.yaml', [
      'paths: [models, /abs/model.onnx]',
      'http:',
      '  host: 0.0.0.0',
      '  port: 9001',
      'models:',
      '  maxBatchSize: 4',
      '  instances: 2',
      'registry:',
      '  catalogUrl: sqlite:/from/file.db',
      '',
    ].join('\n'));
    const env = { BERTH_HOME: '/env/home', BERTH_CATALOG_URL: 'postgres://env/db' };
    const c = await loadConfig({ file: yaml, flags: { http: { port: 0 }, models: { instances: 3 } }, env });
    assert.equal(c.http.port, 0, 'the flag beats the file');
    assert.equal(c.http.host, '0.0.0.0', 'the file beats the default');
    assert.equal(c.models.maxBatchSize, 4);
    assert.equal(c.models.instances, 3, 'the flag beats the file');
    assert.equal(c.models.maxQueueSize, 1024, 'untouched keys keep their defaults');
    assert.equal(c.home, '/env/home', 'the environment fills what the file leaves out');
    assert.equal(c.registry.catalogUrl, 'sqlite:/from/file.db', 'the file beats the environment');
    assert.deepEqual(c.paths, [join(dir, 'models'), '/abs/model.onnx'], 'relative paths in a file are relative to the file');
    assert.ok(Object.isFrozen(c.models));
  });

  test('a flag list replaces the file\'s list', async () => {
    const json = file('lists.json', JSON.stringify({ modelControl: { mode: 'explicit', startupModels: ['a', 'b'] } }));
    const c = await loadConfig({ file: json, flags: { modelControl: { startupModels: ['c'] } }, env: {} });
    assert.equal(c.modelControl.mode, 'explicit');
    assert.deepEqual(c.modelControl.startupModels, ['c']);
  });

  test('.yml, .json and an empty file are accepted; home and alerts paths resolve against the file', async () => {
    const yml = file('small.yml', 'home: state\nmonitoring:\n  alerts: rules.yaml\n');
    const c = await loadConfig({ file: yml, env: {} });
    assert.equal(c.home, join(dir, 'state'));
    assert.equal(c.monitoring.alerts, join(dir, 'rules.yaml'));
    const empty = await loadConfig({ file: file('empty.yaml', '# nothing yet\n'), env: {} });
    assert.equal(empty.http.port, 8000);
    const json = await loadConfig({ file: file('c.json', '{"grpc": {"enabled": false}}'), env: {} });
    assert.equal(json.grpc.enabled, false);
  });

  test('an unknown key in the file is refused, naming the key and the file', async () => {
    const path = file('typo.yaml', 'http:\n  prot: 9000\nmonitoring:\n  captureRate: 0.1\n');
    await assert.rejects(loadConfig({ file: path, env: {} }), (err: Error & { code?: string }) => {
      assert.equal(err.message, `${path}: unknown key 'http.prot'`);
      assert.equal(err.code, 'INVALID_ARGUMENT');
      return true;
    });
    await assert.rejects(loadConfig({ file: file('top.json', '{"port": 1}'), env: {} }), /top\.json: unknown key 'port'/);
  });

  test('a bad value in the file is refused with the file and the key\'s path', async () => {
    await assert.rejects(loadConfig({ file: file('bad.yaml', 'http:\n  port: eighty\n'), env: {} }), /bad\.yaml: http\.port: .*expected number/);
    await assert.rejects(loadConfig({ file: file('bad2.yaml', 'monitoring:\n  captureRate: 1.5\n'), env: {} }), /bad2\.yaml: monitoring\.captureRate: /);
    await assert.rejects(loadConfig({ file: file('list.yaml', '- a\n- b\n'), env: {} }), /list\.yaml: expected a mapping/);
    await assert.rejects(loadConfig({ file: file('broken.yaml', 'http: [\n'), env: {} }), /broken\.yaml: not valid YAML/);
    await assert.rejects(loadConfig({ file: file('broken.json', '{'), env: {} }), /broken\.json: not valid JSON/);
    await assert.rejects(loadConfig({ file: file('c.toml', 'x = 1'), env: {} }), /c\.toml: a config file is \.yaml, \.yml or \.json/);
    await assert.rejects(loadConfig({ file: join(dir, 'missing.yaml'), env: {} }), /missing\.yaml: cannot read the config file \(ENOENT\)/);
  });

  test('YAML alias bombs are refused rather than expanded', async () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
    await assert.rejects(loadConfig({ file: file('bomb.yaml', bomb), env: {} }), /bomb\.yaml: not valid YAML/);
  });

  test('the environment alone, and without a file, under the flags', async () => {
    const c = await loadConfig({ flags: { registry: { enabled: true } }, env: { BERTH_HOME: '/srv/berth', BERTH_CATALOG_URL: '' } });
    assert.equal(c.home, '/srv/berth');
    assert.equal(c.registry.catalogUrl, undefined, 'an empty variable is unset');
    const flagged = await loadConfig({ flags: { home: '/flag/home' }, env: { BERTH_HOME: '/srv/berth' } });
    assert.equal(flagged.home, '/flag/home');
  });
});

describe('a --config path that is not a small regular file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-config-hostile-'));

  test('a FIFO is refused without opening it (the start would block on it)', async () => {
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(readConfigFile(fifo), /fifo\.yaml: cannot read the config file \(not a regular file\)/);
  });

  test('a directory is refused', async () => {
    const sub = join(dir, 'dir.yaml');
    mkdirSync(sub);
    await assert.rejects(readConfigFile(sub), /dir\.yaml: cannot read the config file \(not a regular file\)/);
  });

  test('a file over 1 MiB is refused after reading at most the limit', async () => {
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(1024 * 1024)}\n`);
    await assert.rejects(readConfigFile(big), /big\.yaml: cannot read the config file \(larger than the limit of 1048576 bytes\)/);
  });
});
