/** API keys: created once, stored as a hash, verified in constant time, revoked (never deleted). */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { invalidArgument, notFound } from '../core/errors.js';
import type { RegistryContext } from './context.js';
import { checkActor, defaultActor } from './names.js';
import { KEY_SCOPES, type KeyScope } from './types.js';

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

const KEY_FORMAT = /^berth_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/**
 * A new API key, returned once. Stored as sha256(key): the key carries 256 random bits, so
 * no guessing attack on the hash is feasible and a slow password hash (bcrypt, scrypt) would
 * only add milliseconds to every authenticated request. The id in the key locates the row;
 * the hash is then compared in constant time.
 */
export async function createKey(reg: RegistryContext, scope: KeyScope, opts: { name?: string; actor?: string } = {}): Promise<{ id: string; key: string }> {
  if (!KEY_SCOPES.includes(scope)) throw invalidArgument(`invalid scope '${String(scope)}': use ${KEY_SCOPES.join(', ')}`);
  if (opts.name !== undefined && (typeof opts.name !== 'string' || opts.name.length > 200)) throw invalidArgument('key name must be a string of at most 200 characters');
  const who = checkActor(opts.actor ?? defaultActor());
  const id = randomBytes(6).toString('hex');
  const key = `berth_${id}_${randomBytes(32).toString('base64url')}`;
  const createdAt = new Date().toISOString();
  await reg.catalog.write(async (tx) => {
    await tx.insertKey({ id, hash: hashKey(key).toString('hex'), scope, ...(opts.name !== undefined ? { name: opts.name } : {}), createdAt });
    await tx.appendAudit({ at: createdAt, actor: who, action: 'key.create', after: { id, scope, ...(opts.name !== undefined ? { name: opts.name } : {}) } });
  });
  return { id, key };
}

export async function verifyKey(reg: RegistryContext, key: string): Promise<{ id: string; scope: KeyScope; name?: string } | undefined> {
  const m = typeof key === 'string' ? KEY_FORMAT.exec(key) : null;
  if (!m) return undefined;
  const row = await reg.catalog.getKey(m[1]);
  if (!row || row.revokedAt !== undefined) return undefined;
  const stored = Buffer.from(row.hash, 'hex');
  const given = hashKey(key);
  if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
  return { id: row.id, scope: row.scope, ...(row.name !== undefined ? { name: row.name } : {}) };
}

export async function revokeKey(reg: RegistryContext, id: string, actor?: string): Promise<void> {
  if (typeof id !== 'string' || !/^[0-9a-f]{12}$/.test(id)) throw invalidArgument(`invalid key id ${JSON.stringify(String(id))}`);
  const who = checkActor(actor ?? defaultActor());
  await reg.catalog.write(async (tx) => {
    const key = await tx.getKey(id);
    if (!key) throw notFound(`no API key '${id}'`);
    if (key.revokedAt !== undefined) return;
    const at = new Date().toISOString();
    await tx.revokeKey(id, at);
    await tx.appendAudit({ at, actor: who, action: 'key.revoke', before: { id, scope: key.scope, revoked: false }, after: { id, scope: key.scope, revoked: true } });
  });
}
