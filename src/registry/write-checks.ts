/** Checks shared by the registry's writes, run inside a catalog transaction where they guard one. */
import { notFound } from '../core/errors.js';
import type { Catalog, CatalogWriter } from './catalog.js';
import { checkNewModelName, checkNoCaseCollision } from './names.js';

/** The rules a new model's name follows beyond checkName (names.ts): not reserved, no case twin. */
export async function checkCreatable(reader: Pick<Catalog, 'listModels'>, name: string): Promise<void> {
  checkNewModelName(name);
  checkNoCaseCollision(name, (await reader.listModels()).map((m) => m.name));
}

export async function requireVersion(tx: CatalogWriter, name: string, version: number): Promise<void> {
  if (await tx.getVersion(name, version)) return;
  if (!(await tx.getModel(name))) throw notFound(`no model '${name}' in the registry`);
  throw notFound(`model '${name}' has no version ${version}`);
}
