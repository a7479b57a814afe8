/**
 * A canvas to draw a digit on with the mouse, a pen or a finger, and the 8×8 input it becomes
 * (shown as a grid of the values the model receives).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { drawingToPixels, GRID } from './downsample';

export const CANVAS_SIZE = 256;
/** About three bitmap pixels wide at 32×32: the stroke width of the NIST scans. */
const BRUSH = 22;

export function DigitCanvas({ onChange }: { onChange: (pixels: number[]) => void }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const last = useRef<{ x: number; y: number } | null>(null);
  const [pixels, setPixels] = useState<number[]>(() => new Array(GRID * GRID).fill(0));

  const context = (): CanvasRenderingContext2D => canvas.current!.getContext('2d', { willReadFrequently: true })!;
  const clear = (): void => {
    const ctx = context();
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, CANVAS_SIZE, CANVAS_SIZE);
    update();
  };
  const update = (): void => {
    const image = context().getImageData(0, 0, CANVAS_SIZE, CANVAS_SIZE);
    const next = drawingToPixels(image.data, CANVAS_SIZE, CANVAS_SIZE);
    setPixels(next);
    onChange(next);
  };
  useEffect(clear, []);

  const point = (e: PointerEvent): { x: number; y: number } => {
    const rect = canvas.current!.getBoundingClientRect();
    return { x: ((e.clientX - rect.left) / rect.width) * CANVAS_SIZE, y: ((e.clientY - rect.top) / rect.height) * CANVAS_SIZE };
  };
  const stroke = (from: { x: number; y: number }, to: { x: number; y: number }): void => {
    const ctx = context();
    ctx.strokeStyle = '#000';
    ctx.lineWidth = BRUSH;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  };
  const down = (e: PointerEvent): void => {
    e.preventDefault();
    canvas.current!.setPointerCapture(e.pointerId);
    const p = point(e);
    last.current = p;
    stroke(p, p); // a dot for a click without movement
  };
  const move = (e: PointerEvent): void => {
    if (!last.current) return;
    const p = point(e);
    stroke(last.current, p);
    last.current = p;
  };
  const up = (): void => {
    if (!last.current) return;
    last.current = null;
    update();
  };

  return (
    <div class="digit">
      <div>
        <canvas
          ref={canvas}
          width={CANVAS_SIZE}
          height={CANVAS_SIZE}
          class="digit-canvas"
          data-testid="digit-canvas"
          aria-label="draw a digit here"
          onPointerDown={down}
          onPointerMove={move}
          onPointerUp={up}
          onPointerCancel={up}
        />
        <div class="button-row">
          <button type="button" class="secondary" data-testid="clear-canvas" onClick={clear}>Clear</button>
        </div>
      </div>
      <div>
        <p class="muted">What the model sees: 8×8 counts of ink in 4×4 blocks of a 32×32 bitmap (0–16), as in the UCI digits data.</p>
        <div class="pixel-grid" data-testid="pixel-grid" data-values={pixels.join(',')}>
          {pixels.map((v, i) => (
            <span key={i} style={{ background: `rgba(15, 76, 129, ${v / 16})`, color: v > 8 ? '#fff' : '#111' }}>{v}</span>
          ))}
        </div>
      </div>
    </div>
  );
}
