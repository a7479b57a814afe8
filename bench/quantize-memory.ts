/**
 * Peak memory of `berth quantize` on a large model.
 *
 *   node --import tsx bench/quantize-memory.ts [--size-mb 1024] [--mode dynamic] [--inline] [--keep]
 *
 * Generates a float32 MLP of about --size-mb (default 1 GiB) with its weights in an external
 * data file (written one tensor at a time, so generating it needs little memory), then runs the
 * quantize command (registerQuantize, the CLI's own code path) in a child process and reports
 * that process's peak RSS (process.resourceUsage().maxRSS) against the model's size. With
 * --inline the model is written as one .onnx file without external data instead.
 *
 * Generation runs in its own child process: Linux keeps ru_maxrss across fork+exec, so a child
 * forked from a process that had just built a 1 GB model would inherit that figure. The quantize
 * child also reports VmHWM from /proc (the peak of its own address space after exec).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { encodeModel, makeGraph, makeModel, makeNode, makeValueInfo, type TensorProto } from '../src/onnx/index.js';
import { DataLocation, DataType } from '../src/onnx/types.js';
import { registerQuantize } from '../src/cli/commands/quantize.js';
import { lcg32 } from '../src/util/random.js';

const WIDTH = 4096;

/** Fills `out` with deterministic pseudo-random weights (fast LCG; values in ±scale). */
function fill(out: Float32Array, seed: number, scale: number): void {
  const next = lcg32(seed);
  for (let i = 0; i < out.length; i++) {
    out[i] = ((next() / 4294967296) * 2 - 1) * scale;
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/** Writes model.onnx (+ model.onnx.data unless inline) in `dir`; returns the weight bytes. */
function generate(dir: string, sizeMb: number, inline: boolean): { path: string; bytes: number; layers: number } {
  const layerBytes = WIDTH * WIDTH * 4;
  const layers = Math.max(1, Math.round((sizeMb * 2 ** 20) / layerBytes));
  const nodes = [];
  const initializers: TensorProto[] = [];
  const weights = new Float32Array(WIDTH * WIDTH);
  const dataPath = join(dir, 'model.onnx.data');
  const fd = inline ? -1 : openSync(dataPath, 'w');
  let offset = 0;
  let x = 'input';
  for (let l = 0; l < layers; l++) {
    fill(weights, l + 1, Math.sqrt(3 / WIDTH));
    const w: TensorProto = { name: `fc${l}.weight`, dims: [WIDTH, WIDTH], dataType: DataType.FLOAT };
    const bytes = new Uint8Array(weights.buffer);
    if (inline) {
      w.rawData = bytes.slice();
    } else {
      writeAll(fd, bytes, offset);
      w.dataLocation = DataLocation.EXTERNAL;
      w.externalData = [
        { key: 'location', value: 'model.onnx.data' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ];
      offset += bytes.length;
    }
    initializers.push(w);
    const out = l === layers - 1 ? 'output' : `h${l}`;
    nodes.push(makeNode('MatMul', [x, w.name!], [out], {}, { name: `fc${l}` }));
    if (l < layers - 1) {
      nodes.push(makeNode('Relu', [out], [`${out}.relu`], {}, { name: `relu${l}` }));
      x = `${out}.relu`;
    }
  }
  if (fd >= 0) closeSync(fd);
  const graph = makeGraph({
    name: 'big_mlp',
    nodes,
    inputs: [makeValueInfo('input', 'float32', ['batch', WIDTH])],
    outputs: [makeValueInfo('output', 'float32', ['batch', WIDTH])],
    initializers,
  });
  const path = join(dir, 'model.onnx');
  const encoded = encodeModel(makeModel({ graph, opsetImports: [{ domain: '', version: 13 }], irVersion: 8 }));
  const mfd = openSync(path, 'w');
  writeAll(mfd, encoded, 0);
  closeSync(mfd);
  return { path, bytes: layers * layerBytes, layers };
}

async function child(args: string[]): Promise<void> {
  const program = new Command();
  program.exitOverride();
  registerQuantize(program);
  await program.parseAsync(['node', 'berth', 'quantize', ...args, '--json']);
  const hwm = existsSync('/proc/self/status') ? /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] : undefined;
  process.stderr.write(`MAXRSS_KB=${process.resourceUsage().maxRSS}\nVMHWM_KB=${hwm ?? ''}\n`);
}

function runChild(args: string[]): { stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    throw new Error(`${args[0]} child exited with ${r.status}`);
  }
  return { stdout: r.stdout, stderr: r.stderr };
}

function main(): void {
  const argv = process.argv.slice(2);
  const opt = (name: string, dflt: string): string => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  const sizeMb = Number(opt('--size-mb', '1024'));
  const mode = opt('--mode', 'dynamic');
  const inline = argv.includes('--inline');
  const dir = mkdtempSync(join(tmpdir(), 'berth-qmem-'));
  try {
    const t0 = performance.now();
    const model = JSON.parse(runChild(['--generate', dir, String(sizeMb), inline ? 'inline' : 'external']).stdout) as ReturnType<typeof generate>;
    const genSeconds = (performance.now() - t0) / 1000;
    const fileBytes = statSync(model.path).size + (inline ? 0 : statSync(join(dir, 'model.onnx.data')).size);
    const out = join(dir, 'quantized.onnx');
    const t1 = performance.now();
    const r = runChild(['--child', model.path, '-o', out, '--mode', mode]);
    const seconds = (performance.now() - t1) / 1000;
    const rssKb = Number(/MAXRSS_KB=(\d+)/.exec(r.stderr)?.[1]);
    const report = JSON.parse(r.stdout) as { written: { bytes: number }; quantizedNodes: unknown[] };
    const peak = rssKb * 1024;
    const hwm = Number(/VMHWM_KB=(\d+)/.exec(r.stderr)?.[1] ?? NaN) * 1024;
    const gib = (n: number) => `${(n / 2 ** 30).toFixed(3)} GiB`;
    const result = {
      layers: model.layers,
      width: WIDTH,
      externalData: !inline,
      modelBytes: fileBytes,
      outputBytes: report.written.bytes,
      quantizedNodes: report.quantizedNodes.length,
      peakRssBytes: peak,
      peakRssOverModelSize: Number((peak / fileBytes).toFixed(3)),
      vmHwmBytes: Number.isFinite(hwm) ? hwm : undefined,
      quantizeSeconds: Number(seconds.toFixed(1)),
      generateSeconds: Number(genSeconds.toFixed(1)),
    };
    console.log(`model: ${model.layers} x MatMul ${WIDTH}x${WIDTH} float32, ${gib(fileBytes)}${inline ? ' (inline)' : ' (external data)'}`);
    console.log(`quantize --mode ${mode}: ${seconds.toFixed(1)} s, output ${gib(report.written.bytes)}`);
    console.log(`peak RSS of the quantize process: ${gib(peak)} = ${(peak / fileBytes).toFixed(2)}x the model size`);
    console.log(JSON.stringify(result));
  } finally {
    if (!argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

if (process.argv[2] === '--generate') {
  const [dir, size, how] = process.argv.slice(3);
  process.stdout.write(JSON.stringify(generate(dir, Number(size), how === 'inline')));
} else if (process.argv[2] === '--child') {
  child(process.argv.slice(3)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
} else {
  main();
}
