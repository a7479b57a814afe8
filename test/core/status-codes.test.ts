import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { GRPC_STATUS } from '../../src/core/status-codes.js';

test('the shared gRPC status table holds grpc-js status values under the names of the mapping', () => {
  assert.deepEqual({ ...GRPC_STATUS }, {
    INVALID_ARGUMENT: status.INVALID_ARGUMENT,
    NOT_FOUND: status.NOT_FOUND,
    UNAVAILABLE: status.UNAVAILABLE,
    OVERLOADED: status.RESOURCE_EXHAUSTED,
    PAYLOAD_TOO_LARGE: status.RESOURCE_EXHAUSTED,
    UNSUPPORTED: status.UNIMPLEMENTED,
    ALREADY_EXISTS: status.ALREADY_EXISTS,
    UNAUTHENTICATED: status.UNAUTHENTICATED,
    PERMISSION_DENIED: status.PERMISSION_DENIED,
    INTERNAL: status.INTERNAL,
  });
});
