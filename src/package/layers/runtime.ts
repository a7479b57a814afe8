// Executables the image brings itself: the Node runtime (when the base has none) and, for the
// model-only image, a static busybox as /bin/sh (KServe's modelcar runs `sh -c "ln … && sleep …"`).

import { open, stat } from 'node:fs/promises';
import { EXEC_MODE, type LayerEntry } from './entries.js';
import { checkElfArch, type TargetArch } from './node-modules.js';

export const NODE_PATH = '/usr/local/bin/node';

export async function nodeEntries(nodeBinary: string, arch: TargetArch): Promise<LayerEntry[]> {
  const st = await stat(nodeBinary).catch(() => undefined);
  if (!st?.isFile()) throw new Error(`${nodeBinary}: no such Node binary (--node)`);
  await checkElfArch(nodeBinary, arch, 'the Node binary');
  return [{ type: 'file', path: NODE_PATH, mode: EXEC_MODE, source: { file: nodeBinary, size: st.size } }];
}

/** Whether an ELF file asks for a dynamic loader (has a PT_INTERP program header). */
export async function isDynamicElf(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const h = Buffer.alloc(64);
    await fh.read(h, 0, 64, 0);
    if (h[4] !== 2) throw new Error(`${file}: only 64-bit ELF is supported`);
    const le = h[5] === 1;
    const phoff = Number(le ? h.readBigUInt64LE(32) : h.readBigUInt64BE(32));
    const phentsize = le ? h.readUInt16LE(54) : h.readUInt16BE(54);
    const phnum = le ? h.readUInt16LE(56) : h.readUInt16BE(56);
    if (phnum > 256 || phentsize < 4) throw new Error(`${file}: implausible ELF program headers`);
    const ph = Buffer.alloc(phentsize * phnum);
    await fh.read(ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const type = le ? ph.readUInt32LE(i * phentsize) : ph.readUInt32BE(i * phentsize);
      if (type === 3) return true; // PT_INTERP
    }
    return false;
  } finally {
    await fh.close();
  }
}

/** Debian's busybox-static installs a static /bin/busybox. */
export const DEFAULT_BUSYBOX = '/bin/busybox';

export async function busyboxEntries(busybox: string, arch: TargetArch): Promise<LayerEntry[]> {
  const st = await stat(busybox).catch(() => undefined);
  if (!st?.isFile()) throw new Error(`${busybox} is missing: a model-only image needs a static busybox (Debian: apt-get install busybox-static)`);
  await checkElfArch(busybox, arch, 'busybox');
  if (await isDynamicElf(busybox)) throw new Error(`${busybox} is dynamically linked; a model-only image needs a static one (Debian: apt-get install busybox-static)`);
  const applets = ['sh', 'ln', 'sleep', 'ls', 'cat'];
  return [
    { type: 'file', path: '/bin/busybox', mode: EXEC_MODE, source: { file: busybox, size: st.size } },
    ...applets.map((a): LayerEntry => ({ type: 'symlink', path: `/bin/${a}`, target: 'busybox' })),
  ];
}
