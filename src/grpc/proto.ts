/**
 * Our gRPC schemas, loaded once from the .proto files beside this module (inference.proto,
 * health.proto) into grpc-js service definitions. Under tsx they are read from src/grpc/; the
 * build copies them to dist/grpc/ (scripts/copy-assets.mjs), so the compiled server finds them
 * the same way. Their message types are generated into ./generated/ (`npm run gen`).
 *
 * Loader options, chosen for exactness and for the codec's convenience (scripts/generate.mjs
 * passes the same ones to proto-loader-gen-types, so the generated types describe exactly what
 * these decode):
 * - keepCase: field names as in the .proto (snake_case), the protocol's own spelling;
 * - longs: String, so every int64/uint64 (shapes, INT64 contents, uint64 priority) arrives as an
 *   exact decimal string, never a rounded double;
 * - enums: String (config enums read as "TYPE_FP32"); oneofs: true, so an InferParameter says
 *   which member is set even when its value is the default (false, 0, "");
 * - defaults: false, so an absent field is undefined rather than a fabricated default.
 */
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';
import type { Options, PackageDefinition, ServiceDefinition } from '@grpc/proto-loader';

export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true };

export const SERVICE_NAME = 'inference.GRPCInferenceService';
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/** The path of the inference.proto this server loads (beside this module, in src/ or dist/). */
export const INFERENCE_PROTO_PATH = fileURLToPath(new URL('./inference.proto', import.meta.url));
const HEALTH_PROTO_PATH = fileURLToPath(new URL('./health.proto', import.meta.url));

let inference: PackageDefinition | undefined;
let health: PackageDefinition | undefined;

/** The package definition of inference.proto (every message and the service). */
export function inferencePackage(): PackageDefinition {
  inference ??= loadSync(INFERENCE_PROTO_PATH, LOADER_OPTIONS);
  return inference;
}

/** The GRPCInferenceService method definitions (paths, serializers), for grpc-js. */
export function inferenceService(): ServiceDefinition {
  return inferencePackage()[SERVICE_NAME] as ServiceDefinition;
}

/** grpc.health.v1.Health (health.proto), for grpc-js. */
export function healthServiceDefinition(): ServiceDefinition {
  health ??= loadSync(HEALTH_PROTO_PATH, LOADER_OPTIONS);
  return health[HEALTH_SERVICE_NAME] as ServiceDefinition;
}
