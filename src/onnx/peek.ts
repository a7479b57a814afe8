/**
 * Reads a model file's opset imports without reading the model: ModelProto's top-level fields
 * are walked with small positioned reads, skipping the graph (often gigabytes) by its length.
 * The server uses it to decide, before loading, whether an old model needs an opset upgrade.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface OpsetImport {
  domain: string;
  version: number;
}

const MODEL_OPSET_IMPORT = 8;

class FileCursor {
  private readonly buf = Buffer.alloc(16);
  constructor(private readonly fd: number, public pos: number, readonly end: number) {}

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      readSync(this.fd, this.buf, 0, 1, this.pos++);
      const b = this.buf[0]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error('varint too long');
    }
  }

  bytes(n: number): Buffer {
    if (this.pos + n > this.end) throw new Error('truncated field');
    const out = Buffer.alloc(n);
    readSync(this.fd, out, 0, n, this.pos);
    this.pos += n;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) {
      const n = this.varint(); // read first: `pos += varint()` would drop the varint's own bytes
      this.pos += n;
    }
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

function parseOpset(bytes: Buffer): OpsetImport {
  let domain = '';
  let version = 0;
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const n = varint();
      domain = bytes.subarray(pos, pos + n).toString('utf8');
      pos += n;
    } else if (field === 2 && wire === 0) {
      version = varint();
    } else if (wire === 0) varint();
    else if (wire === 2) {
      const n = varint();
      pos += n;
    }
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else break;
  }
  return { domain, version };
}

/** The opset imports of a model file; throws on a file that is not a readable ModelProto. */
export function readOpsetImports(path: string, fileSize: number): OpsetImport[] {
  const fd = openSync(path, 'r');
  try {
    const cursor = new FileCursor(fd, 0, fileSize);
    const out: OpsetImport[] = [];
    while (cursor.pos < fileSize) {
      const tag = cursor.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (field === MODEL_OPSET_IMPORT && wire === 2) out.push(parseOpset(cursor.bytes(cursor.varint())));
      else cursor.skip(wire);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The default-domain ('' or 'ai.onnx') opset version, if the model declares one. */
export function defaultOpsetVersion(imports: readonly OpsetImport[]): number | undefined {
  return imports.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version;
}
