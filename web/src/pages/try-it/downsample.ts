/**
 * Turns a drawing into the digits example's input, the way the UCI optdigits data was made:
 * the digit is scaled to fit a 32×32 bitmap (NIST's preprocessing normalises size and centres
 * it), and each pixel of the 8×8 input counts the "on" bits in one non-overlapping 4×4 block of
 * that bitmap, so it lies in 0..16.
 */
export const BITMAP = 32;
export const BLOCK = 4;
export const GRID = BITMAP / BLOCK;

/** Ink coverage (0..1) of every pixel of an RGBA image drawn dark on light. */
export function inkOf(rgba: Uint8ClampedArray, width: number, height: number): Float32Array {
  const ink = new Float32Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const r = rgba[i * 4]!;
    const g = rgba[i * 4 + 1]!;
    const b = rgba[i * 4 + 2]!;
    const a = rgba[i * 4 + 3]! / 255;
    // transparent counts as paper
    ink[i] = a * (1 - (0.299 * r + 0.587 * g + 0.114 * b) / 255);
  }
  return ink;
}

/** The 32×32 bitmap: the ink's bounding box scaled (aspect kept) and centred; a bit is on when half its area is inked. */
export function toBitmap(ink: Float32Array, width: number, height: number): Uint8Array {
  const bitmap = new Uint8Array(BITMAP * BITMAP);
  let minX = width;
  let minY = height;
  let maxX = -1;
  let maxY = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x]! < 0.5) continue;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
  }
  if (maxX < 0) return bitmap;
  const boxW = maxX - minX + 1;
  const boxH = maxY - minY + 1;
  const scale = BITMAP / Math.max(boxW, boxH); // bitmap pixels per canvas pixel
  const offX = (BITMAP - boxW * scale) / 2;
  const offY = (BITMAP - boxH * scale) / 2;
  for (let by = 0; by < BITMAP; by++) {
    for (let bx = 0; bx < BITMAP; bx++) {
      // the canvas area this bitmap pixel covers
      const x0 = minX + (bx - offX) / scale;
      const x1 = minX + (bx + 1 - offX) / scale;
      const y0 = minY + (by - offY) / scale;
      const y1 = minY + (by + 1 - offY) / scale;
      let sum = 0;
      let n = 0;
      for (let y = Math.max(0, Math.floor(y0)); y < Math.min(height, Math.ceil(y1)); y++) {
        for (let x = Math.max(0, Math.floor(x0)); x < Math.min(width, Math.ceil(x1)); x++) {
          sum += ink[y * width + x]!;
          n++;
        }
      }
      bitmap[by * BITMAP + bx] = n > 0 && sum / n >= 0.5 ? 1 : 0;
    }
  }
  return bitmap;
}

/** 8×8 counts of on bits per 4×4 block, row-major: the model's 64 inputs, 0..16. */
export function blockCounts(bitmap: Uint8Array): number[] {
  const out = new Array<number>(GRID * GRID).fill(0);
  for (let y = 0; y < BITMAP; y++) {
    for (let x = 0; x < BITMAP; x++) if (bitmap[y * BITMAP + x]) out[Math.floor(y / BLOCK) * GRID + Math.floor(x / BLOCK)]!++;
  }
  return out;
}

/** Drawing (RGBA) → the 64 pixel values of the digits model. */
export function drawingToPixels(rgba: Uint8ClampedArray, width: number, height: number): number[] {
  return blockCounts(toBitmap(inkOf(rgba, width, height), width, height));
}
