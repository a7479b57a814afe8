/** Models without versions: creating one and changing its description or tags, each audited. */
import { BerthError, invalidArgument, notFound } from '../core/errors.js';
import type { RegistryContext } from './context.js';
import { checkActor, checkName, checkTags, defaultActor } from './names.js';
import type { ModelRecord } from './types.js';
import { checkCreatable } from './write-checks.js';

/** Registers a model with no version yet (POST /api/v1/models); ALREADY_EXISTS when it exists. */
export async function createModel(reg: RegistryContext, name: string, opts: { description?: string; tags?: Record<string, string>; actor?: string } = {}): Promise<ModelRecord> {
  checkName(name);
  const tags = checkTags(opts.tags);
  const who = checkActor(opts.actor ?? defaultActor());
  if (opts.description !== undefined && (typeof opts.description !== 'string' || opts.description.length > 10_000)) throw invalidArgument('description must be a string of at most 10000 characters');
  return reg.catalog.write(async (tx) => {
    if (await tx.getModel(name)) throw new BerthError('ALREADY_EXISTS', `model '${name}' already exists`);
    await checkCreatable(tx, name);
    const model = { name, description: opts.description ?? '', tags, createdAt: new Date().toISOString() };
    await tx.insertModel(model);
    await tx.appendAudit({ at: model.createdAt, actor: who, action: 'model.create', model: name, after: { name, description: model.description, tags } });
    return { ...model, latestVersion: 0, aliases: {} };
  });
}

export async function updateModel(reg: RegistryContext, name: string, patch: { description?: string; tags?: Record<string, string> }, actor?: string): Promise<ModelRecord> {
  checkName(name);
  const who = checkActor(actor ?? defaultActor());
  const tags = patch.tags === undefined ? undefined : checkTags(patch.tags);
  if (patch.description !== undefined && (typeof patch.description !== 'string' || patch.description.length > 10_000)) throw invalidArgument('description must be a string of at most 10000 characters');
  return reg.catalog.write(async (tx) => {
    const m = await tx.getModel(name);
    if (!m) throw notFound(`no model '${name}' in the registry`);
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    if (patch.description !== undefined && patch.description !== m.description) {
      before.description = m.description;
      after.description = patch.description;
    }
    if (tags !== undefined && JSON.stringify(tags) !== JSON.stringify(m.tags)) {
      before.tags = m.tags;
      after.tags = tags;
    }
    if (Object.keys(after).length === 0) return m;
    await tx.updateModel(name, { description: after.description as string | undefined, tags: after.tags as Record<string, string> | undefined });
    await tx.appendAudit({ at: new Date().toISOString(), actor: who, action: 'model.update', model: name, before, after });
    return (await tx.getModel(name))!;
  });
}
