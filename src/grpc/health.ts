/**
 * The standard gRPC health service, `grpc.health.v1.Health/Check`, as Triton serves it beside
 * the inference service: Kubernetes' native gRPC probes and grpc_health_probe call it. SERVING
 * while the server is ready (not draining, every model has a ready version), NOT_SERVING
 * otherwise. Watch is not offered (grpc-js answers UNIMPLEMENTED), which the probes don't use.
 */
import type * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import type { ServiceDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { InferenceService } from '../core/inference-service.js';
import { LOADER_OPTIONS, SERVICE_NAME } from './proto.js';

// Field numbers and enum values of grpc/health/v1/health.proto.
const HEALTH_PROTO = `
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`;

let cached: ServiceDefinition | undefined;

export function healthService(): ServiceDefinition {
  cached ??= fromJSON(protobuf.parse(HEALTH_PROTO, { keepCase: true }).root.toJSON(), LOADER_OPTIONS)['grpc.health.v1.Health'] as ServiceDefinition;
  return cached;
}

/** Check: '' (the whole server) and the inference service are known; other names are NOT_FOUND. */
export function healthHandlers(service: InferenceService): grpc.UntypedServiceImplementation {
  const check: grpc.handleUnaryCall<{ service?: string }, { status: string }> = (call, callback) => {
    const name = call.request.service ?? '';
    if (name !== '' && name !== SERVICE_NAME) {
      callback({ code: 5 /* NOT_FOUND, as the health protocol asks */, details: `unknown service '${name}'` });
      return;
    }
    callback(null, { status: service.isReady() ? 'SERVING' : 'NOT_SERVING' });
  };
  return { Check: check };
}
