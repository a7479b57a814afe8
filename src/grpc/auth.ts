/**
 * Access control on the gRPC front end: the same rules as REST (serving/access.ts), decided on
 * the method the call is for. API keys come as `authorization: Bearer KEY` metadata; a
 * restricted API's header as metadata of the same name. No key or a malformed one:
 * UNAUTHENTICATED; a key of the wrong scope, a missing restricted header, or a method without a
 * declared rule: PERMISSION_DENIED.
 */
import * as grpc from '@grpc/grpc-js';
import type { ServiceDefinition } from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { GRPC_METHODS, KeyChecker, failedRestriction, restrictedMessage, scopesFor } from '../serving/access.js';
import type { KeyVerifier, RestrictedApi } from '../serving/access.js';
import type { KeyScope } from '../serving/registry-api.js';

export interface GrpcAccessOptions {
  /** API keys (a registry) */
  keys?: { registry: KeyVerifier; requireAuth?: boolean; cacheMs?: number };
  /** `--restricted-api`: API categories that need a metadata entry */
  restricted?: readonly RestrictedApi[];
}

type Refusal = { code: grpc.status; details: string };

const STATUS_OF = { 401: grpc.status.UNAUTHENTICATED, 403: grpc.status.PERMISSION_DENIED, 503: grpc.status.UNAVAILABLE } as const;

/** The single string value of a metadata key, or undefined (absent, repeated or binary). */
function single(metadata: grpc.Metadata, key: string): string | undefined {
  const values = metadata.get(key);
  return values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
}

/**
 * Wraps every handler of a service with the access check. `prefix` names the service's methods
 * in GRPC_METHODS ('' for the inference service, 'grpc.health.v1.Health/' for health).
 */
export function guardService(
  definition: ServiceDefinition,
  handlers: grpc.UntypedServiceImplementation,
  prefix: string,
  options: GrpcAccessOptions,
  log?: Logger,
): grpc.UntypedServiceImplementation {
  const keys = options.keys ? new KeyChecker(options.keys.registry, options.keys.cacheMs ?? 5000) : undefined;
  const requireAuth = options.keys?.requireAuth ?? false;
  const restricted = options.restricted ?? [];

  /** A refusal, the key scopes still to check, or undefined (go on) — without a tick when no key is needed. */
  const precheck = (method: string, metadata: grpc.Metadata): Refusal | readonly KeyScope[] | undefined => {
    const rule = GRPC_METHODS[`${prefix}${method}`];
    if (!rule) {
      log?.error({ rpc: method }, 'gRPC method has no declared access rule (serving/access.ts): refused');
      return { code: grpc.status.PERMISSION_DENIED, details: 'this method has no declared access rule; refused' };
    }
    const failed = failedRestriction(restricted, rule.category, (name) => single(metadata, name));
    if (failed) return { code: grpc.status.PERMISSION_DENIED, details: restrictedMessage(failed, rule.category) };
    return keys ? scopesFor(rule.access, true, requireAuth) : undefined;
  };

  const checkKey = async (method: string, metadata: grpc.Metadata, needed: readonly KeyScope[]): Promise<Refusal | undefined> => {
    const authorization = metadata.get('authorization');
    const verdict = await keys!.check(authorization.length === 1 ? authorization[0] : authorization.length === 0 ? undefined : '', needed);
    if (verdict.ok) return undefined;
    log?.info({ rpc: method, status: verdict.status, key_id: verdict.info?.id }, `gRPC call refused: ${verdict.message}`);
    return { code: STATUS_OF[verdict.status], details: verdict.message };
  };

  /** Runs `go` when the call may proceed, else `refuse`. */
  const gate = (method: string, metadata: grpc.Metadata, go: () => void, refuse: (r: Refusal) => void): void => {
    const pre = precheck(method, metadata);
    if (pre === undefined) return go();
    if (!Array.isArray(pre)) return refuse(pre as Refusal);
    void checkKey(method, metadata, pre).then((refusal) => (refusal ? refuse(refusal) : go()));
  };

  const out: grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    const def = definition[method];
    if (def?.requestStream || def?.responseStream) {
      const inner = handler as grpc.handleBidiStreamingCall<unknown, unknown>;
      const guarded: grpc.handleBidiStreamingCall<unknown, unknown> = (call) => {
        gate(method, call.metadata, () => {
          if (!call.cancelled) inner(call);
        }, (refusal) => call.emit('error', refusal));
      };
      out[method] = guarded;
    } else {
      const inner = handler as grpc.handleUnaryCall<unknown, unknown>;
      const guarded: grpc.handleUnaryCall<unknown, unknown> = (call, callback) => {
        gate(method, call.metadata, () => inner(call, callback), (refusal) => callback(refusal));
      };
      out[method] = guarded;
    }
  }
  return out;
}
