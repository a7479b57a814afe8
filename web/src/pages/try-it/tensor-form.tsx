/**
 * A form built from a model's input signature: one field per input, its datatype and shape
 * (dynamic dimensions taken as 1), prefilled with zeros. Values are typed as numbers separated
 * by commas, spaces or new lines, or as a JSON array (nested arrays are flattened).
 */
import type { TensorMeta } from '../../api/types';
import type { InputValue } from './browser-runtime';

/** Inputs with more elements than this are not typed by hand: the page says to use the API. */
export const MAX_FORM_ELEMENTS = 4096;

export function concreteShape(shape: number[]): number[] {
  return shape.map((d) => (d < 0 ? 1 : d));
}

export function elementCount(shape: number[]): number {
  return concreteShape(shape).reduce((a, b) => a * b, 1);
}

export function defaultText(meta: TensorMeta): string {
  const n = elementCount(meta.shape);
  if (meta.datatype === 'BYTES') return new Array(n).fill('').join('\n');
  if (meta.datatype === 'BOOL') return new Array(n).fill('false').join(', ');
  return new Array(n).fill('0').join(', ');
}

/** Parses a field into an input tensor, or says what is wrong with it. */
export function parseField(meta: TensorMeta, text: string): InputValue | string {
  const shape = concreteShape(meta.shape);
  const n = elementCount(meta.shape);
  let values: (number | string | boolean)[];
  const trimmed = text.trim();
  if (meta.datatype === 'BYTES') {
    values = trimmed.startsWith('[') ? (JSON.parse(trimmed) as unknown[]).flat(Infinity).map(String) : text.split('\n');
  } else if (trimmed.startsWith('[')) {
    try {
      values = (JSON.parse(trimmed) as unknown[]).flat(Infinity) as (number | boolean)[];
    } catch (err) {
      return `${meta.name}: not valid JSON (${(err as Error).message})`;
    }
  } else {
    values = trimmed === '' ? [] : trimmed.split(/[\s,]+/).map((v) => (meta.datatype === 'BOOL' ? v === 'true' || v === '1' : Number(v)));
  }
  if (values.length !== n) return `${meta.name}: expected ${n} values for shape [${shape.join(', ')}], got ${values.length}`;
  if (meta.datatype !== 'BYTES' && meta.datatype !== 'BOOL' && values.some((v) => typeof v !== 'number' || !Number.isFinite(v))) return `${meta.name}: every value must be a number`;
  return { name: meta.name, datatype: meta.datatype, shape, data: values };
}

export function TensorForm({ inputs, texts, onChange }: { inputs: TensorMeta[]; texts: Record<string, string>; onChange: (name: string, text: string) => void }) {
  return (
    <div class="tensor-form" data-testid="tensor-form">
      {inputs.map((meta) => {
        const n = elementCount(meta.shape);
        return (
          <label key={meta.name} class="field">
            <span>
              <strong>{meta.name}</strong> <span class="muted">{meta.datatype} [{meta.shape.join(', ')}] → {n} value{n === 1 ? '' : 's'}</span>
            </span>
            {n > MAX_FORM_ELEMENTS ? (
              <span class="muted">Too many values to type ({n}): send this input through the API (docs/serving.md).</span>
            ) : (
              <textarea rows={Math.min(8, Math.max(2, Math.ceil(n / 16)))} value={texts[meta.name] ?? defaultText(meta)} onInput={(e) => onChange(meta.name, e.currentTarget.value)} spellcheck={false} />
            )}
          </label>
        );
      })}
    </div>
  );
}
