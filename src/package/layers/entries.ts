// A layer as data: what goes where in the image, with which mode. The image builder turns it into
// a tar layer (layers/tar-layer.ts) and the Dockerfile export into a build context
// (dockerfile.ts), so the two produce the same file tree.

/** One file, directory or symbolic link of a layer. `path` is absolute in the image ("/app/x"). */
export type LayerEntry =
  | { type: 'file'; path: string; mode: number; source: { file: string; size: number } | { bytes: Buffer } }
  | { type: 'dir'; path: string; mode: number }
  | { type: 'symlink'; path: string; target: string };

export interface LayerPlan {
  /** a short name: node, node_modules, app, models, busybox */
  name: string;
  /** what the layer is, for the image history and the Dockerfile's comments */
  description: string;
  entries: LayerEntry[];
}

export const FILE_MODE = 0o644;
export const EXEC_MODE = 0o755;
export const DIR_MODE = 0o755;

/** Whether a mode from disk marks an executable: any x bit gives 0755, else 0644 (modes are normalized). */
export function normalizedMode(diskMode: number): number {
  return diskMode & 0o111 ? EXEC_MODE : FILE_MODE;
}

/** "/a/b/" → "a/b": the path inside a tar (relative, no trailing slash). */
export function tarPath(imagePath: string): string {
  const p = imagePath.replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '' || p.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new Error(`not a usable path in an image: '${imagePath}'`);
  return p;
}

/**
 * The entries sorted by path, with every parent directory added (0755) and duplicates refused,
 * so that a layer's bytes depend only on its content, never on the order files were found in.
 */
export function normalizeEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const e of entries) {
    const p = tarPath(e.path);
    const prev = byPath.get(p);
    if (prev && !(prev.type === 'dir' && e.type === 'dir')) throw new Error(`two entries for ${e.path} in one layer`);
    byPath.set(p, { ...e, path: p });
  }
  for (const p of [...byPath.keys()]) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = byPath.get(parent);
      if (!existing) byPath.set(parent, { type: 'dir', path: parent, mode: DIR_MODE });
      else if (existing.type !== 'dir') throw new Error(`${parent} is both a file and a directory in one layer`);
    }
  }
  // byte order (not locale order): the same on every machine
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
