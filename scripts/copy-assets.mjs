#!/usr/bin/env node
/**
 * Build step after tsc: copies the files the compiled server reads at run time beside its
 * modules in dist/ (tsc copies only TypeScript output). Today: the gRPC schemas, which
 * src/grpc/proto.ts loads relative to itself, from src/ under tsx and from dist/ once built.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(repo, 'src', 'grpc');
const to = join(repo, 'dist', 'grpc');
mkdirSync(to, { recursive: true });
for (const file of readdirSync(from).filter((f) => f.endsWith('.proto'))) copyFileSync(join(from, file), join(to, file));
