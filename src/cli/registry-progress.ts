/**
 * Showing a push or pull as it goes: on a terminal one bar per blob, redrawn in place; for machines
 * (`--json`) one JSON line per change of a blob's state (checking, skipped, mounted, uploading,
 * done), never per byte, so a log stays small whatever the image's size.
 */
import type { BlobProgress } from '../package/distribution/push.js';

export interface ProgressSink {
  onProgress: (p: BlobProgress) => void;
  /** Draws the final state and leaves the cursor below the bars. */
  finish: () => void;
}

/** Picks the display: bars on a terminal, JSON lines with --json, nothing otherwise. */
export function registryProgress(opts: { json?: boolean; stream?: NodeJS.WriteStream } = {}): ProgressSink {
  const stream = opts.stream ?? process.stderr;
  if (opts.json) return jsonLines(stream);
  if (stream.isTTY) return bars(stream);
  return { onProgress: () => undefined, finish: () => undefined };
}

function jsonLines(stream: NodeJS.WritableStream): ProgressSink {
  const last = new Map<string, string>();
  return {
    onProgress(p) {
      if (last.get(p.digest) === p.state) return;
      last.set(p.digest, p.state);
      stream.write(`${JSON.stringify({ event: 'blob', digest: p.digest, size: p.size, state: p.state })}\n`);
    },
    finish: () => undefined,
  };
}

function bars(stream: NodeJS.WriteStream): ProgressSink {
  const blobs = new Map<string, BlobProgress>();
  let drawn = 0;
  let lastDraw = 0;
  const draw = (force: boolean): void => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const cols = stream.columns ?? 80;
    const lines = [...blobs.values()].map((b) => line(b).slice(0, cols - 1));
    let out = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const l of lines) out += `\r\x1b[K${l}\n`;
    stream.write(out);
    drawn = lines.length;
  };
  return {
    onProgress(p) {
      blobs.set(p.digest, p);
      draw(p.state !== 'uploading' && p.state !== 'checking');
    },
    finish: () => draw(true),
  };
}

function line(b: BlobProgress): string {
  const id = b.digest.slice('sha256:'.length, 'sha256:'.length + 12);
  const width = 24;
  const frac = b.size > 0 ? Math.min(1, Math.max(0, b.sent / b.size)) : 1;
  const filled = Math.round(width * frac);
  const label = { checking: 'checking', skipped: 'exists', mounted: 'mounted', uploading: 'uploading', done: 'pushed' }[b.state];
  return `${id} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${human(b.sent)}/${human(b.size)} ${label}`;
}

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
