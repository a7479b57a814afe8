/** Compression of answers the client asked for with Accept-Encoding (gzip, deflate). */
import { promisify } from 'node:util';
import { gzip, deflate } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

const gzipAsync = promisify(gzip);
const deflateAsync = promisify(deflate);

/**
 * Compresses the answer when the client asked for it (tritonclient's Accept-Encoding option),
 * on the thread pool: a large answer compressed synchronously would stall every other request.
 */
export async function compress(request: FastifyRequest, reply: FastifyReply, body: Buffer | string): Promise<Buffer | string> {
  const accept = request.headers['accept-encoding'];
  if (!accept || typeof accept !== 'string') return body;
  if (/\bgzip\b/i.test(accept)) {
    void reply.header('content-encoding', 'gzip');
    return gzipAsync(body);
  }
  if (/\bdeflate\b/i.test(accept)) {
    void reply.header('content-encoding', 'deflate');
    return deflateAsync(body);
  }
  return body;
}
