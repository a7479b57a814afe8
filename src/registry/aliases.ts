/** Aliases (N@alias → a version): setting and deleting them, each change audited. */
import { notFound } from '../core/errors.js';
import type { RegistryContext } from './context.js';
import { checkActor, checkAlias, checkName, checkSettableAlias, checkVersion, defaultActor } from './names.js';
import { requireVersion } from './write-checks.js';

export async function setAlias(reg: RegistryContext, name: string, alias: string, version: number, actor?: string): Promise<void> {
  checkName(name);
  checkSettableAlias(alias);
  checkVersion(version);
  const who = checkActor(actor ?? defaultActor());
  await reg.catalog.write(async (tx) => {
    await requireVersion(tx, name, version);
    const current = (await tx.getModel(name))!.aliases[alias];
    if (current === version) return;
    await tx.setAlias(name, alias, version);
    await tx.appendAudit({
      at: new Date().toISOString(), actor: who, action: 'alias.set', model: name,
      before: { alias, ...(current !== undefined ? { version: current } : {}) }, after: { alias, version },
    });
  });
}

export async function deleteAlias(reg: RegistryContext, name: string, alias: string, actor?: string): Promise<void> {
  checkName(name);
  checkAlias(alias);
  const who = checkActor(actor ?? defaultActor());
  await reg.catalog.write(async (tx) => {
    const m = await tx.getModel(name);
    if (!m) throw notFound(`no model '${name}' in the registry`);
    const current = m.aliases[alias];
    if (current === undefined) throw notFound(`model '${name}' has no alias '${alias}'`);
    await tx.deleteAlias(name, alias);
    await tx.appendAudit({ at: new Date().toISOString(), actor: who, action: 'alias.delete', model: name, before: { alias, version: current }, after: { alias } });
  });
}
