/**
 * Our gRPC schema, loaded once from the embedded text (see proto-text.ts) into a grpc-js
 * service definition.
 *
 * Loader options, chosen for exactness and for the codec's convenience:
 * - keepCase: field names as in the .proto (snake_case), the protocol's own spelling;
 * - longs: String, so every int64/uint64 (shapes, INT64 contents, uint64 priority) arrives as an
 *   exact decimal string, never a rounded double;
 * - enums: String (config enums read as "TYPE_FP32"); oneofs: true, so an InferParameter says
 *   which member is set even when its value is the default (false, 0, "");
 * - defaults: false, so an absent field is undefined rather than a fabricated default.
 */
import { fromJSON } from '@grpc/proto-loader';
import type { Options, PackageDefinition, ServiceDefinition } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { INFERENCE_PROTO } from './proto-text.js';

export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

export const SERVICE_NAME = 'inference.GRPCInferenceService';

let cached: PackageDefinition | undefined;

/** The package definition of inference.proto (every message and the service). */
export function inferencePackage(): PackageDefinition {
  if (!cached) {
    const root = protobuf.parse(INFERENCE_PROTO, { keepCase: true }).root;
    cached = fromJSON(root.toJSON(), LOADER_OPTIONS);
  }
  return cached;
}

/** The GRPCInferenceService method definitions (paths, serializers), for grpc-js. */
export function inferenceService(): ServiceDefinition {
  return inferencePackage()[SERVICE_NAME] as ServiceDefinition;
}
