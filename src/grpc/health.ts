/**
 * The standard gRPC health service, `grpc.health.v1.Health/Check`, as Triton serves it beside
 * the inference service: Kubernetes' native gRPC probes and grpc_health_probe call it. SERVING
 * while the server is ready (not draining, every model has a ready version), NOT_SERVING
 * otherwise. Watch is not offered (grpc-js answers UNIMPLEMENTED), which the probes don't use.
 * The schema is health.proto beside this module (loaded by proto.ts).
 */
import type { ServiceDefinition } from '@grpc/proto-loader';
import type { InferenceService } from '../core/inference-service.js';
import type { HealthHandlers } from './generated/grpc/health/v1/Health.js';
import { healthServiceDefinition, SERVICE_NAME } from './proto.js';

export function healthService(): ServiceDefinition {
  return healthServiceDefinition();
}

/** Check: '' (the whole server) and the inference service are known; other names are NOT_FOUND. */
export function healthHandlers(service: InferenceService): HealthHandlers {
  return {
    Check(call, callback) {
      const name = call.request.service ?? '';
      if (name !== '' && name !== SERVICE_NAME) {
        callback({ code: 5 /* NOT_FOUND, as the health protocol asks */, details: `unknown service '${name}'` });
        return;
      }
      callback(null, { status: service.isReady() ? 'SERVING' : 'NOT_SERVING' });
    },
  };
}
