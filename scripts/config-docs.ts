// Regenerates the key table in docs/configuration.md from the configuration schema.
// Usage: node --import tsx scripts/config-docs.ts   (test/config/docs.test.ts checks it is current)
import { readFileSync, writeFileSync } from 'node:fs';
import { withCurrentTable } from '../src/config/docs.js';

const path = new URL('../docs/configuration.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withCurrentTable(before);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? 'docs/configuration.md is current' : 'docs/configuration.md updated');
