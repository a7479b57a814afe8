#!/usr/bin/env node
/**
 * Regenerates every generated file that is checked in (`npm run gen`):
 * - src/grpc/generated/: TypeScript types of the gRPC messages, by @grpc/proto-loader's
 *   proto-loader-gen-types, from src/grpc/*.proto with the server's loader options
 *   (src/grpc/proto.ts LOADER_OPTIONS: keepCase, longs String, enums String, oneofs).
 *
 * `generate(root)` writes under another root (scripts/check-generated.mjs uses a temp dir to
 * find stale files). Run from anywhere; paths are resolved from the repository.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Generated folders, relative to the repository: each is rewritten whole. */
export const GENERATED_DIRS = ['src/grpc/generated'];

/** The .proto files whose message types are generated (relative paths: they appear in the output). */
const PROTOS = ['src/grpc/inference.proto', 'src/grpc/health.proto'];

const GEN_TYPES_FLAGS = ['--keepCase', '--longs=String', '--enums=String', '--oneofs', '--grpcLib=@grpc/grpc-js', '--importFileExtension=.js'];

/** Writes every generated folder under `root` (the repository by default). */
export function generate(root = REPO) {
  const require = createRequire(join(REPO, 'package.json'));
  const genTypes = join(dirname(require.resolve('@grpc/proto-loader/package.json')), 'build', 'bin', 'proto-loader-gen-types.js');
  const out = join(root, 'src', 'grpc', 'generated');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // cwd = the repository, so the "Original file:" header names the same relative path wherever it runs
  execFileSync(process.execPath, [genTypes, ...GEN_TYPES_FLAGS, '-O', out, ...PROTOS], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  generate();
  console.log(`generated ${GENERATED_DIRS.join(', ')}`);
}
