/** Human-readable rendering of a QuantizeReport (the CLI's default output). */
import { describeCpu } from '../../runtime/cpu-features.js';
import type { QuantizeReport } from './types.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

function fmtScale(s: number | [number, number] | undefined): string {
  if (s === undefined) return '-';
  if (typeof s === 'number') return s.toPrecision(3);
  return `${s[0].toPrecision(3)}..${s[1].toPrecision(3)}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export function formatReport(r: QuantizeReport): string {
  const lines: string[] = [];
  const what: string[] = [r.mode];
  if (r.mode === 'weight-only') what.push(`${r.bits}-bit`);
  what.push(`weights ${r.weightType}${r.perChannel ? ' per channel' : ''}`);
  if (r.blockSize) what.push(`block ${r.blockSize}`, `accuracy_level ${r.accuracyLevel}`);
  if (r.activationType) what.push(`activations ${r.activationType}`);
  if (r.form) what.push(`form ${r.form === 'fused' ? 'com.microsoft.DynamicQuantizeMatMul' : 'DynamicQuantizeLinear+MatMulInteger'}`);
  lines.push(`quantize: ${what.join(', ')}`);
  if (r.bits === 8) {
    const target = r.targetCpuFrom === 'option' ? `${r.targetCpu} (--target-cpu; this machine: ${describeCpu(r.cpu)})` : `${r.targetCpu} (this machine: ${describeCpu(r.cpu)})`;
    lines.push(`target cpu: ${target}`);
    lines.push(`reduce range: ${r.reduceRange ? 'on, int8 weights in [-64, 64]' : 'off, full-range weights'} (${r.reduceRangeReason})`);
  }
  if (r.calibration) {
    const s = Object.entries(r.calibration.settings).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`calibration: ${r.calibration.method} over ${r.calibration.samples} samples (${r.calibration.runs} runs)${s ? `, ${s}` : ''}`);
  }
  const ratio = r.sizeBefore > 0 ? (r.sizeAfter / r.sizeBefore).toFixed(3) : '-';
  lines.push(`size: ${formatBytes(r.sizeBefore)} -> ${formatBytes(r.sizeAfter)} (x${ratio}); quantized weights ${formatBytes(r.weightBytesBefore)} -> ${formatBytes(r.weightBytesAfter)}`);
  lines.push(`nodes: ${r.quantizedNodes.length} quantized, ${r.skipped.length} skipped; opset ${r.opset}${r.addedOpsets.length ? ` + ${r.addedOpsets.join(', ')}` : ''}; ${r.elapsedMs} ms`);
  let text = lines.join('\n') + '\n';
  if (r.quantizedNodes.length > 0) {
    const rows = [['node', 'op', 'as', 'weight', 'shape', 'scale', 'max |err|']];
    for (const n of r.quantizedNodes) {
      rows.push([n.name, n.opType, n.as, n.weight ?? '-', n.shape ? `[${n.shape.join('x')}]` : '-', fmtScale(n.scale), n.maxWeightError !== undefined ? n.maxWeightError.toPrecision(3) : '-']);
    }
    text += '\n' + table(rows);
  }
  if (r.skipped.length > 0) {
    const rows = [['skipped', 'op', 'reason']];
    for (const s of r.skipped) rows.push([s.name, s.opType, s.reason]);
    text += '\n' + table(rows);
  }
  if (r.activations && r.activations.length > 0) {
    const rows = [['activation', 'range', 'observed', 'scale', 'zero point']];
    for (const a of r.activations) {
      rows.push([a.tensor, `[${a.rmin.toPrecision(4)}, ${a.rmax.toPrecision(4)}]`, `[${a.min.toPrecision(4)}, ${a.max.toPrecision(4)}]`, a.scale.toPrecision(4), String(a.zeroPoint)]);
    }
    text += '\n' + table(rows);
  }
  if (r.rewrites.length > 0) text += '\n' + r.rewrites.map((w) => `rewrite: ${w}`).join('\n') + '\n';
  if (r.warnings.length > 0) text += '\n' + r.warnings.map((w) => `warning: ${w}`).join('\n') + '\n';
  return text;
}
