/**
 * What the CPU can do for int8 inference, read once from the operating system.
 *
 * It matters because onnxruntime's u8s8 integer kernels (uint8 activations × int8 weights, what
 * dynamic and static int8 models run) compute differently by CPU: with VNNI (vpdpbusd) products
 * are summed straight into 32-bit lanes; without it, on x86-64 with AVX2 (and AVX-512 without
 * VNNI), vpmaddubsw sums each adjacent pair of products into a saturating 16-bit lane, and
 * 2 · 255 · 127 overflows int16. Weights quantized to 7 bits ([-64, 64]) cannot overflow.
 *
 * BERTH_CPU_FEATURES overrides what is read (a comma- or space-separated list of flags, e.g.
 * "avx2" or "avx2,avx512_vnni"), so a machine with VNNI can exercise the no-VNNI paths.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * The int8 kernel family a model will run on:
 * - vnni: x86-64 with AVX-512 VNNI or AVX-VNNI (u8s8 sums in 32-bit lanes, no saturation);
 * - avx2: x86-64 without VNNI (vpmaddubsw's saturating 16-bit pair sums);
 * - arm64: sdot/udot or 16-bit widening, no saturation;
 * - any: unknown, so the model must be safe on every CPU.
 */
export type CpuTarget = 'vnni' | 'avx2' | 'arm64' | 'any';
export const CPU_TARGETS: readonly CpuTarget[] = ['vnni', 'avx2', 'arm64', 'any'];

export interface CpuFeatures {
  /** process.arch */
  arch: string;
  /** the CPU's model name, when the OS says */
  model?: string;
  /** int8-relevant flags found (lower case, Linux names): avx2, avx512bw, avx512_vnni, avx_vnni, amx_int8, asimddp, i8mm */
  flags: string[];
  /** the int8 kernel family these flags select */
  target: CpuTarget;
  /** where the flags came from */
  source: 'cpuinfo' | 'sysctl' | 'env' | 'none';
}

const RELEVANT = ['avx2', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'amx_int8', 'asimddp', 'i8mm'];
/** macOS sysctl spellings (machdep.cpu.*features, upper case, no underscore) */
const ALIASES: Record<string, string> = { avx2: 'avx2', avx512f: 'avx512f', avx512bw: 'avx512bw', avx512vnni: 'avx512_vnni', avxvnni: 'avx_vnni', amxint8: 'amx_int8' };

/** x86-64 VNNI of either kind (AMX-INT8 CPUs have AVX-512 VNNI too). */
export function hasVnni(flags: readonly string[]): boolean {
  return flags.includes('avx512_vnni') || flags.includes('avx_vnni') || flags.includes('amx_int8');
}

/** The int8 kernel family for an architecture and a set of flags (known = the flags were read). */
export function cpuTarget(arch: string, flags: readonly string[], known: boolean): CpuTarget {
  if (arch === 'arm64') return 'arm64';
  if (arch === 'x64' || arch === 'ia32') {
    if (hasVnni(flags)) return 'vnni';
    return known ? 'avx2' : 'any';
  }
  return 'any';
}

function normalize(words: Iterable<string>): string[] {
  const found = new Set<string>();
  for (const raw of words) {
    const w = raw.trim().toLowerCase();
    if (RELEVANT.includes(w)) found.add(w);
    else if (ALIASES[w.replace(/[._]/g, '')]) found.add(ALIASES[w.replace(/[._]/g, '')]);
  }
  return RELEVANT.filter((f) => found.has(f));
}

/** Flags and model name from /proc/cpuinfo text (the first processor's "flags" or "Features" line). */
export function parseCpuinfo(text: string): { flags: string[]; model?: string } {
  const line = (key: RegExp): string | undefined => text.split('\n').find((l) => key.test(l))?.split(':').slice(1).join(':').trim();
  const flags = line(/^(flags|Features)\s*:/) ?? '';
  const model = line(/^(model name|Model|CPU part)\s*:/);
  return { flags: normalize(flags.split(/\s+/)), ...(model ? { model } : {}) };
}

/** CPU features from an override string (BERTH_CPU_FEATURES). */
export function featuresFromOverride(value: string, arch = process.arch): CpuFeatures {
  const words = value.split(/[\s,]+/).filter((w) => w.length > 0);
  const flags = normalize(words);
  return { arch, flags, target: cpuTarget(arch, flags, true), source: 'env' };
}

function read(useOverride: boolean): CpuFeatures {
  const arch = process.arch;
  const override = process.env.BERTH_CPU_FEATURES;
  if (useOverride && override !== undefined && override.trim() !== '') return featuresFromOverride(override, arch);
  if (process.platform === 'linux') {
    try {
      const { flags, model } = parseCpuinfo(readFileSync('/proc/cpuinfo', 'utf8'));
      return { arch, ...(model ? { model } : {}), flags, target: cpuTarget(arch, flags, true), source: 'cpuinfo' };
    } catch {
      // fall through: unknown
    }
  }
  if (process.platform === 'darwin') {
    const r = spawnSync('sysctl', ['-n', 'machdep.cpu.brand_string', 'machdep.cpu.features', 'machdep.cpu.leaf7_features'], { encoding: 'utf8', timeout: 2000 });
    if (r.status === 0 || (r.stdout && r.stdout.length > 0)) {
      const [model, ...rest] = r.stdout.split('\n');
      const flags = normalize(rest.join(' ').split(/\s+/));
      return { arch, model: model.trim(), flags, target: cpuTarget(arch, flags, rest.join('').trim().length > 0), source: 'sysctl' };
    }
  }
  return { arch, flags: [], target: cpuTarget(arch, [], false), source: 'none' };
}

let cached: { key: string | undefined; value: CpuFeatures } | undefined;

/** This machine's CPU features (cached; re-read when BERTH_CPU_FEATURES changes). */
export function detectCpuFeatures(): CpuFeatures {
  const key = process.env.BERTH_CPU_FEATURES;
  if (!cached || cached.key !== key) cached = { key, value: read(true) };
  return cached.value;
}

let host: CpuFeatures | undefined;

/** The CPU onnxruntime really runs on here, ignoring BERTH_CPU_FEATURES (tests and benchmarks). */
export function hostCpuFeatures(): CpuFeatures {
  host ??= read(false);
  return host;
}

/** Whether full-range int8 weights can saturate onnxruntime's u8s8 kernels on this target. */
export function u8s8Saturates(target: CpuTarget): boolean {
  return target === 'avx2' || target === 'any';
}

/** One line for reports: "x64 avx2 avx512_vnni (vnni)". */
export function describeCpu(f: CpuFeatures): string {
  const flags = f.flags.length > 0 ? f.flags.join(' ') : 'no int8 flags';
  return `${f.arch} ${flags} (${f.target}${f.source === 'env' ? ', from BERTH_CPU_FEATURES' : f.source === 'none' ? ', flags unknown' : ''})`;
}
