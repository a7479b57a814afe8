/**
 * Request ids from outside: the `x-request-id` header (REST) or metadata (gRPC) that a client
 * or a load balancer (HAProxy's unique-id, an ingress) sets. It names the request in the
 * access log, the trace span (`berth.request_id`) and the answer's own `x-request-id`, so one
 * id follows a request from the balancer's log to the replica's.
 *
 * It reaches logs and traces verbatim, so it is held to what balancers generate: 1 to 256
 * printable ASCII characters. Anything else is refused (400 / INVALID_ARGUMENT) rather than
 * silently replaced: a replaced id would break the correlation the client asked for, unnoticed.
 */
import { invalidArgument } from './errors.js';

export const REQUEST_ID_HEADER = 'x-request-id';
export const MAX_REQUEST_ID_CHARS = 256;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** The id when it is acceptable; throws INVALID_ARGUMENT naming the problem otherwise. */
export function checkRequestId(value: string): string {
  if (value.length > MAX_REQUEST_ID_CHARS) throw invalidArgument(`${REQUEST_ID_HEADER} is ${value.length} characters long: at most ${MAX_REQUEST_ID_CHARS} are accepted`);
  if (!PRINTABLE_ASCII.test(value)) throw invalidArgument(`${REQUEST_ID_HEADER} must be printable ASCII characters (0x20-0x7e)`);
  return value;
}

/**
 * The request id of a header value as the front ends read it: absent or empty → undefined;
 * repeated (an array) → refused, since which one the client meant is unknown.
 */
export function requestIdOf(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    if (value.length === 0) return undefined;
    if (value.length > 1) throw invalidArgument(`${REQUEST_ID_HEADER} is given ${value.length} times: send it once`);
    value = value[0]!;
  }
  return value === '' ? undefined : checkRequestId(value);
}
