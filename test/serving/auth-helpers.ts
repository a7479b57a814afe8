/**
 * Helpers for the access-control tests: requests written byte for byte on a socket (so that
 * targets the fetch API would normalise — `/./`, `//`, absolute-form — reach the server as
 * sent), and a registry with one key of each scope.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { Registry } from '../../src/registry/registry.js';
import type { Access } from '../../src/serving/access.js';
import { tempDir } from '../helpers/models.js';
import { writeScaledAffine } from '../rollout/helpers.js';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP/1.1 request on its own connection, exactly as given. */
export function rawRequest(port: number, method: string, target: string, headers: Record<string, string | Buffer> = {}, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error(`${method} ${target}: no answer in 10 s`)));
    socket.on('connect', () => {
      const all: Record<string, string | Buffer> = { host: `127.0.0.1:${port}`, connection: 'close', ...headers };
      if (body !== undefined) {
        all['content-type'] ??= 'application/json';
        all['content-length'] = String(Buffer.byteLength(body));
      }
      const parts: Buffer[] = [Buffer.from(`${method} ${target} HTTP/1.1\r\n`, 'latin1')];
      for (const [k, v] of Object.entries(all)) parts.push(Buffer.from(`${k}: `, 'latin1'), Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1'), Buffer.from('\r\n'));
      parts.push(Buffer.from('\r\n'));
      if (body !== undefined) parts.push(Buffer.from(body));
      socket.write(Buffer.concat(parts)); // not end(): a half-closed client loses streamed answers
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      const [statusLine, ...lines] = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
      if (!m) return reject(new Error(`${method} ${target}: no HTTP answer (${JSON.stringify(text.slice(0, 80))})`));
      const hs: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) hs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      let payload = text.slice(text.indexOf('\r\n\r\n') + 4);
      if (hs['transfer-encoding'] === 'chunked') payload = dechunk(payload);
      resolve({ status: Number(m[1]), headers: hs, body: Buffer.from(payload, 'latin1').toString('utf8') });
    });
  });
}

function dechunk(s: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = s.indexOf('\r\n', i);
    if (eol < 0) return out;
    const n = parseInt(s.slice(i, eol), 16);
    if (!n) return out;
    out += s.slice(eol + 2, eol + 2 + n);
    i = eol + 2 + n + 2;
  }
}

/** Runs `fn` over `items`, `width` at a time. */
export async function pool<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

export type Scope = 'read' | 'infer' | 'admin';

export interface KeyedRegistry {
  dir: string;
  home: string;
  registry: Registry;
  keys: Record<Scope, string>;
}

/** A registry holding model `m` (version 1, alias production) and one key of each scope. */
export async function keyedRegistry(): Promise<KeyedRegistry> {
  const dir = tempDir('berth-auth-');
  const home = join(dir, 'home');
  const registry = await Registry.open({ home });
  const file = await writeScaledAffine(join(dir, 'src'), 'm', 1, 1);
  await registry.push(file, { name: 'm' });
  await registry.setAlias('m', 'production', 1);
  const keys = {} as Record<Scope, string>;
  for (const scope of ['read', 'infer', 'admin'] as const) keys[scope] = (await registry.createKey(scope, { name: `${scope}-key` })).key;
  return { dir, home, registry, keys };
}

/** The policy, stated independently of src/: which key scopes each access class accepts. */
export function expectedScopes(access: Access, requireAuth: boolean): Scope[] | 'none' {
  switch (access) {
    case 'public':
      return 'none';
    case 'serving':
      return requireAuth ? ['read', 'infer', 'admin'] : 'none';
    case 'infer':
      return requireAuth ? ['infer', 'admin'] : 'none';
    case 'read':
      return ['read', 'admin'];
    case 'feedback':
      return ['infer', 'admin'];
    case 'admin':
      return ['admin'];
  }
}

