/**
 * Rollouts against the production alias: a canary and/or a shadow version, promoted, aborted, or
 * rolled back to what production pointed at before its last change (read from the audit log).
 */
import { invalidArgument, notFound } from '../core/errors.js';
import type { RegistryContext } from './context.js';
import { PRODUCTION, checkActor, checkName, checkVersion, defaultActor } from './names.js';
import type { AuditEntry, Rollout } from './types.js';
import { requireVersion } from './write-checks.js';

export interface RolloutSpec {
  canary?: { version: number; percent: number };
  shadow?: { version: number };
}

/** The production-alias change an audit entry records, if it records one. */
function productionChange(e: AuditEntry): { from?: number; to?: number } | undefined {
  const b = (e.before ?? {}) as Record<string, unknown>;
  const a = (e.after ?? {}) as Record<string, unknown>;
  const num = (x: unknown) => (typeof x === 'number' ? x : undefined);
  if (e.action === 'alias.set' || e.action === 'alias.delete') {
    const alias = a.alias ?? b.alias;
    return alias === PRODUCTION ? { from: num(b.version), to: num(a.version) } : undefined;
  }
  if (e.action === 'rollout.promote' || e.action === 'rollout.rollback') return { from: num(b.production), to: num(a.production) };
  return undefined;
}

/**
 * Starts (or changes) a canary and/or shadow against the production alias, which must exist.
 * Calling it again with a new percentage is how a canary is stepped up.
 */
export async function startRollout(reg: RegistryContext, name: string, spec: RolloutSpec, actor?: string): Promise<Rollout> {
  checkName(name);
  const who = checkActor(actor ?? defaultActor());
  if (!spec || (!spec.canary && !spec.shadow)) throw invalidArgument('a rollout needs a canary, a shadow, or both');
  if (spec.canary) {
    checkVersion(spec.canary.version);
    const p = spec.canary.percent;
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) throw invalidArgument('canary percent must be a number from 0 to 100');
  }
  if (spec.shadow) checkVersion(spec.shadow.version);
  return reg.catalog.write(async (tx) => {
    const m = await tx.getModel(name);
    if (!m) throw notFound(`no model '${name}' in the registry`);
    const production = m.aliases[PRODUCTION];
    if (production === undefined) throw invalidArgument(`model '${name}' has no '${PRODUCTION}' alias to roll out against: set one first`);
    for (const [what, v] of [['canary', spec.canary?.version], ['shadow', spec.shadow?.version]] as const) {
      if (v === undefined) continue;
      await requireVersion(tx, name, v);
      if (v === production) throw invalidArgument(`the ${what} version ${v} is already production`);
    }
    const before = await tx.getRollout(name);
    // The same rollout again changes nothing, so it is not audited as a change.
    const same = (a?: { version: number; percent?: number }, b?: { version: number; percent?: number }) => a?.version === b?.version && a?.percent === b?.percent;
    if (before && same(before.canary, spec.canary) && same(before.shadow, spec.shadow)) return before;
    const rollout: Rollout = {
      model: name,
      ...(spec.canary ? { canary: { version: spec.canary.version, percent: spec.canary.percent } } : {}),
      ...(spec.shadow ? { shadow: { version: spec.shadow.version } } : {}),
      updatedAt: new Date().toISOString(),
    };
    await tx.putRollout(rollout);
    await tx.appendAudit({
      at: rollout.updatedAt, actor: who, action: 'rollout.start', model: name,
      before: before ? { production, rollout: before } : { production }, after: { production, rollout },
    });
    return rollout;
  });
}

/** production ← the canary (or else shadow) version; the rollout ends. */
export async function promote(reg: RegistryContext, name: string, actor?: string): Promise<number> {
  checkName(name);
  const who = checkActor(actor ?? defaultActor());
  return reg.catalog.write(async (tx) => {
    const m = await tx.getModel(name);
    if (!m) throw notFound(`no model '${name}' in the registry`);
    const rollout = await tx.getRollout(name);
    if (!rollout) throw invalidArgument(`model '${name}' has no rollout in progress to promote`);
    const version = rollout.canary?.version ?? rollout.shadow!.version;
    const previous = m.aliases[PRODUCTION];
    await tx.setAlias(name, PRODUCTION, version);
    await tx.deleteRollout(name);
    await tx.appendAudit({
      at: new Date().toISOString(), actor: who, action: 'rollout.promote', model: name,
      before: { ...(previous !== undefined ? { production: previous } : {}), rollout }, after: { production: version },
    });
    return version;
  });
}

export async function abortRollout(reg: RegistryContext, name: string, actor?: string): Promise<void> {
  checkName(name);
  const who = checkActor(actor ?? defaultActor());
  await reg.catalog.write(async (tx) => {
    if (!(await tx.getModel(name))) throw notFound(`no model '${name}' in the registry`);
    const rollout = await tx.getRollout(name);
    if (!rollout) throw invalidArgument(`model '${name}' has no rollout in progress to abort`);
    await tx.deleteRollout(name);
    await tx.appendAudit({ at: new Date().toISOString(), actor: who, action: 'rollout.abort', model: name, before: { rollout }, after: {} });
  });
}

/**
 * production ← the version it pointed to before its last change, read from the audit log.
 * A rollback is itself a change, so a second rollback undoes the first. Ends any rollout.
 */
export async function rollback(reg: RegistryContext, name: string, actor?: string): Promise<number> {
  checkName(name);
  const who = checkActor(actor ?? defaultActor());
  return reg.catalog.write(async (tx) => {
    const m = await tx.getModel(name);
    if (!m) throw notFound(`no model '${name}' in the registry`);
    const current = m.aliases[PRODUCTION];
    const entries = await tx.audit({ model: name, actions: ['alias.set', 'alias.delete', 'rollout.promote', 'rollout.rollback'] });
    const last = entries.map(productionChange).find((c) => c !== undefined);
    if (!last) throw invalidArgument(`model '${name}' has no change of its '${PRODUCTION}' alias to roll back`);
    if (last.from === undefined) throw invalidArgument(`before its last change, '${name}' had no '${PRODUCTION}' alias: nothing to roll back to`);
    const target = last.from;
    const rollout = await tx.getRollout(name);
    await tx.setAlias(name, PRODUCTION, target);
    if (rollout) await tx.deleteRollout(name);
    await tx.appendAudit({
      at: new Date().toISOString(), actor: who, action: 'rollout.rollback', model: name,
      before: { ...(current !== undefined ? { production: current } : {}), ...(rollout ? { rollout } : {}) }, after: { production: target },
    });
    return target;
  });
}
