import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestHeader } from '../../src/http/v2-request-header.js';

const good = { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };

function refused(json: unknown, message: RegExp): void {
  assert.throws(() => parseRequestHeader(json), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(err.message, message);
    return true;
  });
}

describe('v2 request header checks', () => {
  test('a well-formed header comes back typed, unknown fields tolerated', () => {
    const h = parseRequestHeader({ ...good, id: 'r1', model_name: 'kserve-adds-this', parameters: { priority: 1, binary_data_output: true }, outputs: [{ name: 'y', parameters: { binary_data: true } }] });
    assert.equal(h.id, 'r1');
    assert.deepEqual(h.inputs[0]!.shape, [1, 4]);
    assert.deepEqual(h.outputs, [{ name: 'y', parameters: { binary_data: true } }]);
    assert.deepEqual(h.parameters, { priority: 1, binary_data_output: true });
  });

  test('each malformed part is named by its path', () => {
    refused([], /body: expected a JSON object/);
    refused({}, /inputs: required/);
    refused({ inputs: {} }, /inputs: expected an array/);
    refused({ inputs: [] }, /inputs: expected at least one input/);
    refused({ inputs: [1] }, /inputs\[0\]: expected an object/);
    refused({ inputs: [{ shape: [1], datatype: 'FP32' }] }, /inputs\[0\]\.name: required/);
    refused({ inputs: [{ name: 'x', shape: 'x', datatype: 'FP32' }] }, /inputs\[0\]\.shape: expected an array/);
    refused({ inputs: [{ name: 'x', shape: [1, -2], datatype: 'FP32' }] }, /inputs\[0\]\.shape\[1\]: expected a non-negative integer, got -2/);
    refused({ inputs: [{ name: 'x', shape: [1.5], datatype: 'FP32' }] }, /inputs\[0\]\.shape\[0\]/);
    refused({ inputs: [{ name: 'x', shape: [1], datatype: 7 }] }, /inputs\[0\]\.datatype: expected a string/);
    refused({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: [1] } }] }, /inputs\[0\]\.parameters\.binary_data_size: expected a string, number or boolean/);
    refused({ ...good, id: 5 }, /^invalid inference request: id: expected a string$/);
    refused({ ...good, parameters: 'fast' }, /parameters: expected an object/);
    refused({ ...good, outputs: {} }, /outputs: expected an array/);
    refused({ ...good, outputs: [{}] }, /outputs\[0\]\.name: required/);
  });
});
