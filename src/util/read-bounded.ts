/**
 * Reading a small file a person points berth at (a model's config.json, a `--config` file) without
 * trusting what the path is: at most `limit` bytes are read, whatever stat says (files under
 * /proc report a size of 0 and /dev/zero never ends).
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** Reads at most `limit` bytes of `path` as UTF-8; throws past the limit. Check that it is a regular file first (a FIFO would block). */
export function readBounded(path: string, limit: number): string {
  const fd = openSync(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const got = readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) break;
      chunks.push(chunk.subarray(0, got));
      n += got;
      if (n > limit) throw new Error(`larger than the limit of ${limit} bytes`);
    }
    return Buffer.concat(chunks, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
