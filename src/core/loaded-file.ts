/**
 * The model file a version was loaded from, held open from load time. Serving the file back
 * (GET /api/v1/serving/models/{m}/versions/{v}/model.onnx) reads this descriptor, not the
 * path: a file replaced on disk since (renamed over, a symlink re-pointed) is a different
 * inode, and the descriptor still reads the bytes that were loaded. A file rewritten in place
 * changes under every descriptor; that is noticed (its size or mtime differ from load time)
 * and refused rather than served as if it were the loaded model.
 *
 * Readers take a reference, so unloading the version while a download is in progress closes
 * the descriptor only when the last reader is done (a closed descriptor number can be reused
 * by another open, and a late read would return that file's bytes).
 */
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { Readable } from 'node:stream';

/** Not ctime: it changes when the file is renamed over (its link count drops), not its bytes. */
function identity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

export class LoadedFile {
  private refs = 0;
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    private readonly id: string,
  ) {}

  /** Opens a regular file; refuses anything else (a FIFO, a device, a directory). */
  static async open(path: string): Promise<LoadedFile> {
    const st = await stat(path);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    const handle = await open(path, 'r');
    const fst = await handle.stat();
    if (!fst.isFile()) {
      await handle.close();
      throw new Error(`${path} is not a regular file`);
    }
    return new LoadedFile(handle, fst.size, identity(fst));
  }

  /** True when `path` still names the file that was opened (the load read these bytes). */
  async samePathAs(path: string): Promise<boolean> {
    try {
      return identity(await stat(path)) === this.id;
    } catch {
      return false;
    }
  }

  /**
   * A stream of the loaded bytes, or undefined when they are gone: the version was unloaded,
   * or the file was rewritten in place after the load.
   */
  async stream(): Promise<Readable | undefined> {
    if (this.closed) return undefined;
    this.refs++;
    let handed = false;
    try {
      const st = await this.handle.stat();
      if (this.closed || identity(st) !== this.id) return undefined;
      const stream = this.handle.createReadStream({ start: 0, end: Math.max(0, this.size - 1), autoClose: false });
      // With autoClose off the stream is not destroyed at its end, so 'close' alone would not
      // come: release on whichever of end, error or close (a client that hung up) comes first.
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        void this.release();
      };
      stream.once('end', release).once('error', release).once('close', release);
      handed = true;
      return stream;
    } finally {
      if (!handed) await this.release();
    }
  }

  /** The loaded bytes in memory, or undefined when they are gone (as for stream()). */
  async readAll(): Promise<Uint8Array | undefined> {
    if (this.closed) return undefined;
    this.refs++;
    try {
      if (identity(await this.handle.stat()) !== this.id) return undefined;
      const buf = Buffer.allocUnsafe(this.size);
      for (let n = 0; n < this.size;) {
        const { bytesRead } = await this.handle.read(buf, n, this.size - n, n);
        if (bytesRead === 0) return undefined; // truncated meanwhile
        n += bytesRead;
      }
      return buf;
    } finally {
      await this.release();
    }
  }

  private async release(): Promise<void> {
    this.refs--;
    if (this.closed && this.refs === 0) await this.handle.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.refs === 0) await this.handle.close().catch(() => undefined);
  }
}
