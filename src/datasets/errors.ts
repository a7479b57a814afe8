/** One-line errors that name the file, so a CLI can print `error: <message>` and exit. */
import { readFile } from 'node:fs/promises';

export function failFile(path: string, message: string): never {
  throw new Error(`${path}: ${message}`);
}

export async function readBytes(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new Error(`${what} file not found: ${path}`);
    if (e.code === 'EISDIR') throw new Error(`${what} path is a directory: ${path}`);
    throw new Error(`cannot read ${what} file ${path}: ${e.message}`);
  }
}

export const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
export const fmtShape = (dims: readonly (number | string | null)[]): string => `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
