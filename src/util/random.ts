/**
 * Seeded pseudo-random numbers, for what must come out the same on every run: example data
 * splits and initial weights, drift projections, test fixtures and bench inputs. Not for anything
 * secret (node:crypto is). A leaf module: it imports nothing of berth.
 *
 * Sequences are part of the contract: tests and benches assert on data generated from them, so
 * a change to either generator changes their inputs. Add a named variant instead.
 */

/** mulberry32: 32-bit state, uniform floats in [0, 1) (multiples of 2^-32). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A 32-bit linear congruential generator, state ← (a·state + c) mod 2^32, by default Numerical
 * Recipes' a = 1664525, c = 1013904223: returns the next state, an unsigned 32-bit integer.
 * Cheaper than mulberry32 where a bench fills hundreds of megabytes; its low bits are poor, so
 * use the high ones (divide by 2^32).
 */
export function lcg32(seed: number, multiplier = 1664525, increment = 1013904223): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, multiplier) + increment) >>> 0);
}

/** Marsaglia's xorshift32 (shifts 13, 17, 5): unsigned 32-bit integers, every bit pattern but 0 (seed 0 stays 0). */
export function xorshift32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>>= 0);
  };
}
