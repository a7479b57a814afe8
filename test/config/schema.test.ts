import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, configFromEnv } from '../../src/config/load.js';
import { berthHome } from '../../src/config/defaults.js';
import { parseRestrictedApi } from '../../src/serving/access.js';

describe('configuration schema', () => {
  test('an empty config gets the documented defaults (docs/configuration.md, docs/serving.md, docs/grpc.md)', () => {
    const c = parseConfig({});
    // the values written out here, not read from the schema: Triton's ports, berth's documented limits
    assert.deepEqual(c.http, { host: '127.0.0.1', port: 8000, maxBodyMb: 64, maxResponseMb: 64, headersTimeoutSecs: 10, requestTimeoutSecs: 60, keepAliveTimeoutSecs: 72 });
    assert.deepEqual(c.grpc, { enabled: true, port: 8001 });
    assert.deepEqual(c.models, { instances: 1, maxBatchSize: 32, maxQueueDelayUs: 1000, maxQueueSize: 1024 });
    assert.deepEqual(c.modelControl, { mode: 'none', startupModels: [], pollSecs: 15 });
    assert.deepEqual(c.registry, { enabled: false, pollSecs: 2 });
    assert.deepEqual(c.accessLog, { enabled: true, sampleRate: 1, maxLinesPerSec: 1000 });
    assert.deepEqual(c.monitoring, { enabled: true, captureRate: 0, captureMaxMb: 256, driftWindow: 500, driftWindowSecs: 3600, driftReferenceSize: 1000, driftMaxSamplesPerSec: 200, accuracyWindow: 1000 });
    assert.deepEqual(c.access, { restricted: [] });
    assert.equal(c.logLevel, 'info');
    assert.equal(c.metrics, true);
    assert.equal(c.dashboard, true);
    assert.equal(c.exitTimeoutSecs, 30);
    assert.equal(c.maxShadowInFlight, 128);
    assert.deepEqual(c.paths, []);
    assert.equal(c.home, undefined);
  });

  test('the parsed config is frozen all the way down', () => {
    const c = parseConfig({ paths: ['a.onnx'], access: { restricted: ['inference:x-key=secret-value'] } });
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.http));
    assert.ok(Object.isFrozen(c.paths));
    assert.ok(Object.isFrozen(c.access.restricted[0]));
    assert.throws(() => {
      (c.http as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => (c.paths as string[]).push('b'), TypeError);
  });

  test('a partial section keeps the other keys\' defaults', () => {
    const c = parseConfig({ http: { port: 0 }, monitoring: { captureRate: 0.5 } });
    assert.equal(c.http.port, 0);
    assert.equal(c.http.host, '127.0.0.1');
    assert.equal(c.monitoring.captureRate, 0.5);
    assert.equal(c.monitoring.driftWindow, 500);
  });

  test('an unknown key is refused with its full path', () => {
    assert.throws(() => parseConfig({ http: { prot: 9000 } }, 'berth.yaml'), (err: Error) => {
      assert.match(err.message, /^berth\.yaml: unknown key 'http\.prot'$/);
      assert.equal((err as { code?: string }).code, 'INVALID_ARGUMENT');
      return true;
    });
    assert.throws(() => parseConfig({ colour: 'blue' }), /unknown key 'colour'/);
  });

  test('a bad type or range is refused with the key\'s path', () => {
    assert.throws(() => parseConfig({ http: { port: '8000' } }, 'f.json'), /^BerthError|f\.json: http\.port: .*expected number/);
    assert.throws(() => parseConfig({ http: { port: 70000 } }), /http\.port: .*65535/);
    assert.throws(() => parseConfig({ models: { instances: 0 } }), /models\.instances/);
    assert.throws(() => parseConfig({ monitoring: { captureRate: 2 } }), /monitoring\.captureRate/);
    assert.throws(() => parseConfig({ modelControl: { mode: 'sometimes' } }), /modelControl\.mode/);
    assert.throws(() => parseConfig({ models: { preferredBatchSizes: [0] } }), /models\.preferredBatchSizes\.0/);
    assert.throws(() => parseConfig({ http: [] }), /http: /);
  });

  test('list values are parsed by the same parsers as the flags', () => {
    const c = parseConfig({ access: { allowedHosts: 'Example.com, *.corp', allowedOrigins: ['https://app.example'], restricted: ['model-repository:x-admin=s3cret-value'] } });
    assert.deepEqual(c.access.allowedHosts, ['example.com', '*.corp']);
    assert.deepEqual(c.access.allowedOrigins, ['https://app.example']);
    assert.deepEqual(c.access.restricted[0]!.categories, ['model-repository']);
    assert.equal(c.access.restricted[0]!.header, 'x-admin');
    assert.throws(() => parseConfig({ access: { restricted: ['nosuch:x=y'] } }), /access\.restricted\.0: .*unknown API category 'nosuch'/);
    assert.throws(() => parseConfig({ access: { allowedHosts: 'a b' } }), /access\.allowedHosts/);
    // an already parsed spec (what a library caller may hold) passes through, and parsing is idempotent
    const again = parseConfig({ access: { restricted: [parseRestrictedApi('inference:x-key=value-long-enough')] } });
    assert.equal(again.access.restricted[0]!.header, 'x-key');
    assert.deepEqual(parseConfig(c).access, c.access);
  });
});

describe('environment variables', () => {
  test('BERTH_HOME and BERTH_CATALOG_URL set their keys; an empty value counts as unset', () => {
    assert.deepEqual(configFromEnv({ BERTH_HOME: '/srv/berth', BERTH_CATALOG_URL: 'postgres://db/berth' }), { home: '/srv/berth', registry: { catalogUrl: 'postgres://db/berth' } });
    assert.deepEqual(configFromEnv({ BERTH_HOME: '', BERTH_CATALOG_URL: '' }), {});
    assert.deepEqual(configFromEnv({ PATH: '/bin' }), {});
  });

  test('berthHome(), the one reader for every command, follows the same rule', () => {
    assert.equal(berthHome({ BERTH_HOME: '/srv/berth' }), '/srv/berth');
    assert.equal(berthHome({ BERTH_HOME: '' }), join(homedir(), '.berth'));
    assert.equal(berthHome({}), join(homedir(), '.berth'));
  });
});
