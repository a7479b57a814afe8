/**
 * What a classifier answered, read the same way from the server's and the browser's outputs:
 * the first output with one integer (or string) per row (a label), else the argmax of the first
 * float output with several values per row. The same rule as berth's feedback join.
 */
export interface OutputLike {
  name: string;
  datatype: string;
  shape: number[];
  data: (number | string | boolean)[];
}

const INTEGER = new Set(['INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);

export function topAnswer(outputs: OutputLike[]): { value: string; from: string } | null {
  const label = outputs.find((o) => (INTEGER.has(o.datatype) || o.datatype === 'BYTES') && o.data.length >= 1 && (o.shape.length <= 1 || o.shape.slice(1).every((d) => d === 1)));
  if (label) return { value: String(label.data[0]), from: label.name };
  const scores = outputs.find((o) => (o.datatype === 'FP32' || o.datatype === 'FP64') && o.shape.length >= 2 && o.shape[o.shape.length - 1]! > 1);
  if (!scores) return null;
  const width = scores.shape[scores.shape.length - 1]!;
  let best = 0;
  for (let i = 1; i < width; i++) if (Number(scores.data[i]) > Number(scores.data[best])) best = i;
  return { value: String(best), from: `argmax ${scores.name}` };
}

/** The k best classes of the first row of a float output with a class axis, for display. */
export function topK(outputs: OutputLike[], k = 3): { cls: number; p: number }[] {
  const scores = outputs.find((o) => (o.datatype === 'FP32' || o.datatype === 'FP64') && o.shape.length >= 2 && o.shape[o.shape.length - 1]! > 1);
  if (!scores) return [];
  const width = scores.shape[scores.shape.length - 1]!;
  return Array.from({ length: width }, (_, cls) => ({ cls, p: Number(scores.data[cls]) })).sort((a, b) => b.p - a.p).slice(0, k);
}
