/**
 * Our schema: the embedded copy (schema.ts) matches onnx.proto, and every field of the upstream
 * onnx.proto shipped with python3-onnx exists in ours with the same number and type.
 * BERTH_UPDATE_SCHEMA=1 regenerates schema.ts from onnx.proto.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { ONNX_PROTO } from '../../src/onnx/schema.js';
import { NO_PYTHON, python } from './helpers.js';

const SRC = fileURLToPath(new URL('../../src/onnx/', import.meta.url));

function generate(proto: string): string {
  const escaped = proto.replace(/[`\\]/g, (c) => '\\' + c).replace(/\$\{/g, '\\${');
  return (
    '// Generated from src/onnx/onnx.proto: the schema is embedded so the codec works from src/ and dist/\n' +
    '// alike. test/onnx/schema.test.ts checks the two agree; BERTH_UPDATE_SCHEMA=1 makes it regenerate this file.\n' +
    'export const ONNX_PROTO = `' + escaped + '`;\n'
  );
}

test('schema.ts embeds onnx.proto verbatim', () => {
  const proto = readFileSync(join(SRC, 'onnx.proto'), 'utf8');
  if (process.env.BERTH_UPDATE_SCHEMA === '1') writeFileSync(join(SRC, 'schema.ts'), generate(proto));
  assert.equal(ONNX_PROTO, proto, 'src/onnx/schema.ts is stale: run BERTH_UPDATE_SCHEMA=1 node --import tsx --test test/onnx/schema.test.ts');
  assert.equal(readFileSync(join(SRC, 'schema.ts'), 'utf8'), generate(proto));
});

test('every field of the upstream onnx.proto has the same number and type in ours', { skip: NO_PYTHON }, (t) => {
  const dir = python('import onnx, os; print(os.path.dirname(onnx.__file__))').trim();
  const upstreamPath = ['onnx-ml.proto', 'onnx.proto'].map((f) => join(dir, f)).find(existsSync);
  if (!upstreamPath) return t.skip(`no onnx.proto in ${dir}`);
  const upstream = protobuf.parse(readFileSync(upstreamPath, 'utf8')).root;
  const ours = protobuf.parse(ONNX_PROTO).root;
  upstream.resolveAll();
  ours.resolveAll();
  let fields = 0;
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) {
        const mine = ours.lookupType(obj.fullName);
        for (const f of obj.fieldsArray) {
          const m = mine.fields[f.name];
          assert.ok(m, `${obj.fullName}.${f.name} missing`);
          assert.equal(m.id, f.id, `${obj.fullName}.${f.name} number`);
          assert.equal(m.type, f.type, `${obj.fullName}.${f.name} type`);
          assert.equal(m.repeated, f.repeated, `${obj.fullName}.${f.name} repeated`);
          assert.equal(m.packed, f.packed, `${obj.fullName}.${f.name} packed`);
          fields++;
        }
      } else if (obj instanceof protobuf.Enum) {
        const mine = ours.lookupEnum(obj.fullName);
        for (const [name, value] of Object.entries(obj.values)) {
          // Version.IR_VERSION names the newest IR version, so it moves with every ONNX release.
          if (obj.name === 'Version' && name === 'IR_VERSION') continue;
          assert.equal(mine.values[name], value, `${obj.fullName}.${name}`);
        }
      }
      if (obj instanceof protobuf.Namespace) visit(obj);
    }
  };
  visit(upstream);
  t.diagnostic(`${fields} upstream fields checked against ${upstreamPath}`);
  assert.ok(fields > 80);
});
