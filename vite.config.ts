/**
 * Builds the web dashboard (web/) into dist/web/, which `berth serve` serves at / (see
 * src/http/dashboard-routes.ts). Everything it needs ships in that folder: no CDN, no web
 * fonts, and onnxruntime-web's WebAssembly runtime copied beside the bundle (ort/).
 *
 * `npx vite` runs the dashboard in development, proxying the APIs to BERTH_URL
 * (default http://127.0.0.1:8000).
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import type { Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'dist', 'web');
const ortDist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
/**
 * The WebAssembly build onnxruntime-web's wasm-only entry loads: the module and its loader.
 * (The threaded name is historical: with numThreads 1 it runs without workers or
 * SharedArrayBuffer, so the page needs no cross-origin isolation.)
 */
const ORT_FILES = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs'];

/** Copies onnxruntime-web's runtime into dist/web/ort/, where web/src/pages/try-it/browser-runtime.ts points it. */
function copyOrtRuntime(): Plugin {
  return {
    name: 'berth-copy-onnxruntime-web',
    apply: 'build',
    writeBundle() {
      mkdirSync(join(outDir, 'ort'), { recursive: true });
      for (const file of ORT_FILES) copyFileSync(join(ortDist, file), join(outDir, 'ort', file));
    },
  };
}

const berth = process.env.BERTH_URL ?? 'http://127.0.0.1:8000';

export default defineConfig({
  root: join(here, 'web'),
  base: './',
  publicDir: join(here, 'web', 'public'),
  resolve: {
    alias: {
      // The entry without the runtime inlined: it loads ort/ort-wasm-simd-threaded.mjs at run time,
      // so the 14 MB of WebAssembly stay out of the JavaScript bundle.
      'onnxruntime-web/wasm': join(ortDist, 'ort.wasm.min.mjs'),
    },
  },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
  },
  plugins: [copyOrtRuntime()],
  server: {
    proxy: Object.fromEntries(['/v2', '/v1', '/api', '/metrics', '/docs'].map((p) => [p, { target: berth, changeOrigin: true }])),
  },
});
