/**
 * `npm run bench:package`: what `berth package` costs and gives, on the offline base
 * (scripts/build-base.sh, cached under .scratch/base-image/ as the container tests cache it).
 *
 * For the digits example and a ~1 GB model (MatMul chain, weights in external data, generated
 * here and deleted afterwards): image size per layer (compressed and uncompressed) and in total;
 * cold build time (a fresh output directory); warm rebuild time after a model change (a new
 * model version, same base, node_modules and app, into the layout that holds the previous image,
 * with the layer cache the cold build filled; each cold build starts from an empty cache);
 * the packager's peak RSS; cold start under podman (`podman run` → /v2/health/ready 200).
 * Timings are medians of BENCH_ROUNDS rounds (default 3). Targets: the server image without the
 * model ≤ 80 MB compressed; a warm rebuild after a model change ≤ 5 s for digits.
 *
 *   npm run bench:package                 # needs dist/ (npm run build), mmdebstrap, npm; podman for cold start
 *   BENCH_ROUNDS=5 BENCH_LARGE_MB=512 npm run bench:package
 */
import { createReadStream } from 'node:fs';
import { cp, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ensureDigitsModel } from '../src/examples/digits/index.js';
import { loadModel, saveModel } from '../src/onnx/index.js';
import { formatBytes } from '../src/onnx/inspect.js';
import type { BuiltLayer } from '../src/package/image/build.js';
import { ensureBaseImage } from '../test/helpers/base-image.js';
import { writeLargeModel, largeModelBytes, type LargeModelSpec } from '../test/helpers/large-onnx.js';
import { runPackage, type PackageRun } from '../test/helpers/package-run.js';
import { Podman, containerSkipReason } from '../test/helpers/podman.js';
import { median } from './common.js';

const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const LARGE_MB = Number(process.env.BENCH_LARGE_MB ?? 1024);
const SERVER_TARGET_BYTES = 80e6;
const WARM_TARGET_S = 5;

/** A width whose single square MatMul (plus a 16-wide output MatMul) holds about LARGE_MB. */
function largeSpec(): LargeModelSpec {
  const width = Math.round(Math.sqrt((LARGE_MB * 2 ** 20) / 4) / 256) * 256;
  return { width, layers: 1, outputs: 16, seed: 11 };
}

/** Uncompressed bytes of a gzip blob in an OCI layout (for the base's layers, whose tar size the build does not report). */
async function gunzippedSize(layoutDir: string, digest: string): Promise<number> {
  let n = 0;
  await pipeline(createReadStream(join(layoutDir, 'blobs', 'sha256', digest.slice(7))), createGunzip(), new Writable({
    write(chunk: Buffer, _enc, done) {
      n += chunk.byteLength;
      done();
    },
  }));
  return n;
}

interface LayerRow { name: string; compressed: number; uncompressed: number }

async function layerRows(layoutDir: string, layers: BuiltLayer[]): Promise<LayerRow[]> {
  const rows: LayerRow[] = [];
  let baseIndex = 0;
  for (const l of layers) {
    const name = l.name === 'base' ? `base[${baseIndex++}]` : l.name;
    rows.push({ name, compressed: l.size, uncompressed: l.tarSize ?? (await gunzippedSize(layoutDir, l.digest)) });
  }
  return rows;
}

/** A copy of the digits repository whose model.onnx differs (a doc string naming the round): a new model version. */
async function changedDigits(from: string, to: string, round: number): Promise<void> {
  await cp(from, to, { recursive: true });
  const path = join(to, 'digits', '1', 'model.onnx');
  const model = await loadModel(path);
  model.docString = `digits, bench:package round ${round}`;
  await saveModel(model, path);
}

async function coldStarts(podman: Podman, layoutDir: string, label: string): Promise<number[]> {
  const image = await podman.loadOci(layoutDir);
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now();
    const c = await podman.run(image, { publish: { http: 8000 } });
    await c.waitReady(300_000);
    times.push((performance.now() - started) / 1000);
    await podman.exec(['rm', '--force', '--time', '0', c.name]);
    console.error(`# ${label} cold start ${r + 1}/${ROUNDS}: ${times.at(-1)!.toFixed(2)} s`);
  }
  await podman.exec(['rmi', '--force', image]);
  return times;
}

const mb = (n: number): string => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);
const secs = (xs: number[]): string => `${median(xs).toFixed(2)} s (${xs.map((x) => x.toFixed(2)).join(', ')})`;

async function main(): Promise<void> {
  const base = await ensureBaseImage();
  const work = await mkdtemp(join(tmpdir(), 'berth-bench-package-'));
  const podSkip = containerSkipReason(['podman', 'skopeo', 'runc']);
  const podman = podSkip ? undefined : await Podman.create();
  const baseRef = `oci:${base.dir}:latest`;
  try {
    const digits = join(work, 'digits-repo');
    await ensureDigitsModel(digits);
    const spec = largeSpec();
    const free = await statfs(work).then((s) => s.bavail * s.bsize);
    const need = 4 * largeModelBytes(spec);
    if (free < need) throw new Error(`${work}: ${formatBytes(free)} free, the ~1 GB model and its images need ${formatBytes(need)}`);
    const large = await writeLargeModel(join(work, 'large-repo'), 'large', spec);
    console.error(`# large model: ${formatBytes(large.dataBytes)} of external data (width ${spec.width})`);

    // each cold build starts from an empty layer cache; the warm rebuilds use the last one's
    const pack = (models: string, out: string, tag: string, cache: string): Promise<PackageRun> =>
      runPackage([models, '--tag', tag, '--base', baseRef, '--oci', out, '--home', cache]);
    const cacheOf = (r: number): string => join(work, `layer-cache-${r}`);

    // digits: cold builds into fresh directories, then warm rebuilds of a new model version into the last layout
    const cold: PackageRun[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const out = join(work, `digits-oci-${r}`);
      cold.push(await pack(digits, out, 'bench/digits:1', cacheOf(r)));
      console.error(`# digits cold build ${r + 1}/${ROUNDS}: ${cold.at(-1)!.seconds.toFixed(2)} s`);
      if (r < ROUNDS - 1) await rm(out, { recursive: true });
      if (r < ROUNDS - 1) await rm(cacheOf(r), { recursive: true });
    }
    const digitsOut = join(work, `digits-oci-${ROUNDS - 1}`);
    const digitsRows = await layerRows(digitsOut, cold.at(-1)!.result.layers);
    const warm: PackageRun[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const changed = join(work, `digits-v${r + 2}`);
      await changedDigits(digits, changed, r + 2);
      const run = await pack(changed, join(work, 'digits-warm-oci'), 'bench/digits:1', cacheOf(ROUNDS - 1));
      const before = cold.at(-1)!.result.layers;
      const same = run.result.layers.filter((l, i) => l.digest === before[i]?.digest).map((l) => l.name);
      warm.push(run);
      console.error(`# digits warm rebuild ${r + 1}/${ROUNDS}: ${run.seconds.toFixed(2)} s; unchanged layers: ${same.join(', ')}`);
      await rm(changed, { recursive: true });
    }

    const largeRuns: PackageRun[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const out = join(work, `large-oci-${r}`);
      largeRuns.push(await pack(join(work, 'large-repo'), out, 'bench/large:1', cacheOf(100 + r)));
      console.error(`# large cold build ${r + 1}/${ROUNDS}: ${largeRuns.at(-1)!.seconds.toFixed(2)} s`);
      await rm(cacheOf(100 + r), { recursive: true });
      if (r < ROUNDS - 1) await rm(out, { recursive: true });
    }
    const largeOut = join(work, `large-oci-${ROUNDS - 1}`);
    const largeRows = await layerRows(largeOut, largeRuns.at(-1)!.result.layers);

    const digitsStart = podman ? await coldStarts(podman, digitsOut, 'digits') : [];
    const largeStart = podman ? await coldStarts(podman, largeOut, 'large') : [];

    // the report
    const lines: string[] = [];
    const table = (title: string, rows: LayerRow[]): void => {
      lines.push(`\n${title}`, '| layer | compressed | uncompressed |', '|---|---:|---:|');
      for (const r of rows) lines.push(`| ${r.name} | ${mb(r.compressed)} | ${mb(r.uncompressed)} |`);
      const server = rows.filter((r) => r.name !== 'models');
      lines.push(`| **server (all but models)** | ${mb(server.reduce((n, r) => n + r.compressed, 0))} | ${mb(server.reduce((n, r) => n + r.uncompressed, 0))} |`);
      lines.push(`| **total** | ${mb(rows.reduce((n, r) => n + r.compressed, 0))} | ${mb(rows.reduce((n, r) => n + r.uncompressed, 0))} |`);
    };
    table('digits image (berth package onto the offline base)', digitsRows);
    table(`~1 GB model image (${formatBytes(large.dataBytes)} external data)`, largeRows);
    lines.push('', `| measure (median of ${ROUNDS}) | digits | ~1 GB model |`, '|---|---|---|');
    lines.push(`| cold build | ${secs(cold.map((r) => r.seconds))} | ${secs(largeRuns.map((r) => r.seconds))} |`);
    lines.push(`| warm rebuild after a model change | ${secs(warm.map((r) => r.seconds))} | — |`);
    lines.push(`| packager peak RSS | ${mb(median(cold.map((r) => r.peakRss)))} (warm ${mb(median(warm.map((r) => r.peakRss)))}) | ${mb(median(largeRuns.map((r) => r.peakRss)))} (${(median(largeRuns.map((r) => r.peakRss)) / large.dataBytes).toFixed(3)} × model) |`);
    lines.push(podman
      ? `| cold start (podman run → ready) | ${secs(digitsStart)} | ${secs(largeStart)} |`
      : `| cold start | skipped: ${podSkip} | |`);

    const serverBytes = digitsRows.filter((r) => r.name !== 'models').reduce((n, r) => n + r.compressed, 0);
    const warmS = median(warm.map((r) => r.seconds));
    const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
    lines.push('', `target: server image without the model ≤ ${mb(SERVER_TARGET_BYTES)} compressed: ${mb(serverBytes)} (${formatBytes(serverBytes)}) — ${verdict(serverBytes <= SERVER_TARGET_BYTES)}`);
    lines.push(`target: warm rebuild after a model change ≤ ${WARM_TARGET_S} s (digits): ${warmS.toFixed(2)} s — ${verdict(warmS <= WARM_TARGET_S)}`);
    console.log(lines.join('\n'));
  } finally {
    await podman?.cleanup();
    await rm(work, { recursive: true, force: true });
    await base.dispose();
  }
}

await main();
