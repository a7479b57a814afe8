/**
 * Every float32 bit pattern through writeFloat32: the text must parse back to the same bits
 * (Math.fround(Number(text)), through a double); with --shortest also the text one digit shorter
 * (the correctly rounded k-1 digit decimal, from toPrecision) must not (about 3× slower). Takes about an hour
 * of one core for all 2^32 patterns:
 *   node --import tsx bench/float-text-exhaustive.ts [from-hex] [to-hex] [--shortest]
 */
import { roundsTo, writeFloat32 } from '../src/text/float-text.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const shortest = process.argv.includes('--shortest');
const from = Number.parseInt(args[0] ?? '0', 16);
const to = Number.parseInt(args[1] ?? '100000000', 16);
const f = new Float32Array(1);
const u = new Uint32Array(f.buffer);
const out = new Uint8Array(32);
let checked = 0;
let failures = 0;
const started = Date.now();
for (let bits = from; bits < to; bits++) {
  const end = writeFloat32(out, 0, bits);
  u[0] = bits;
  const x = f[0]!;
  if (end < 0) {
    if (Number.isFinite(x)) fail(bits, 'null for a finite value');
    continue;
  }
  let text = '';
  for (let i = 0; i < end; i++) text += String.fromCharCode(out[i]!);
  const back = Math.fround(Number(text));
  if (!(back === x && (x !== 0 || Object.is(back, x)))) fail(bits, `${text} parses to ${back}`);
  checked++;
  if ((bits & 0xffffff) === 0) progress(bits);
  if (!shortest) continue;
  const digits = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length;
  if (digits > 1 && Math.fround(Number(x.toPrecision(digits - 1))) === x) {
    // A shorter text that reads back through a double but not through a correctly rounding
    // float32 parser is ambiguous between clients: berth rightly prints a longer one then.
    const [m, e] = Math.abs(x).toExponential(digits - 2).split('e') as [string, string];
    if (roundsTo(bits & 0x7fffffff, Number(m.replace('.', '')), Number(e) - (digits - 2))) fail(bits, `${text} is not shortest: ${x.toPrecision(digits - 1)}`);
  }
}
console.log(`done [${from.toString(16)}, ${to.toString(16)}): ${checked} finite values checked, ${failures} failures, ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exitCode = failures === 0 ? 0 : 1;

function progress(bits: number): void {
  console.log(`${bits.toString(16).padStart(8, '0')}: ${checked} checked, ${failures} failures, ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

function fail(bits: number, why: string): void {
  failures++;
  if (failures <= 20) console.log(`FAIL ${bits.toString(16)}: ${why}`);
}
