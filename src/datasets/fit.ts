/**
 * Fitting data to a model: the model's input names, shapes and types (read from its graph), and
 * the renaming, reshaping and checked casting that makes a dataset feed them.
 */
import type { ModelProto, TypeProto } from '../onnx/types.js';
import { tensorDatatypeFromOnnx } from '../tensor-types/datatypes.js';
import { castTensor } from './cast.js';
import { failFile, fmtShape, product } from './errors.js';
import { asDatasetDatatype, type Dataset, type DatasetTensor, type ModelInputSpec, type ReadDatasetOptions } from './types.js';

const isFixed = (d: number | string | null | undefined): d is number => typeof d === 'number' && d >= 0;

/** Names, shapes and types of a model's graph inputs (initializers excluded). */
export function modelInputSpecs(model: ModelProto): ModelInputSpec[] {
  const graph = model.graph;
  const inits = new Set((graph?.initializer ?? []).map((t) => t.name ?? ''));
  const shapeOf = (type: TypeProto | undefined): (number | string | null)[] | null => {
    const shape = type?.tensorType?.shape;
    if (!shape) return null;
    return (shape.dim ?? []).map((d) => (d.dimValue !== undefined ? Number(d.dimValue) : d.dimParam ? d.dimParam : null));
  };
  return (graph?.input ?? [])
    .filter((v) => !inits.has(v.name ?? ''))
    .map((v) => ({ name: v.name ?? '', shape: shapeOf(v.type), datatype: asDatasetDatatype(tensorDatatypeFromOnnx(v.type?.tensorType?.elemType)) }));
}

/** `readDataset` options that fit data to `model`'s inputs. */
export function datasetOptionsFor(model: ModelProto | ModelInputSpec[]): ReadDatasetOptions {
  const specs = Array.isArray(model) ? model : modelInputSpecs(model);
  const options: ReadDatasetOptions = { inputNames: specs.map((s) => s.name) };
  if (specs.every((s) => s.shape)) options.inputShapes = specs.map((s) => (s.shape ?? []).map((d) => (d === null ? '?' : d)));
  if (specs.every((s) => s.datatype)) options.inputTypes = specs.map((s) => s.datatype!);
  return options;
}

/**
 * Fits a dataset to a model's inputs: renames a single input to the model's only input, checks
 * every model input is present (and nothing else is), reshapes flat rows to the model's
 * per-sample shape when the element counts match, and casts to the model's datatypes.
 * Returns a new Dataset (tensors not changed are shared).
 */
export function fitDataset(ds: Dataset, specs: ModelInputSpec[], where = 'data'): Dataset {
  const names = Object.keys(ds.inputs);
  let inputs = ds.inputs;
  if (names.length === 1 && specs.length === 1 && names[0] !== specs[0].name) inputs = { [specs[0].name]: ds.inputs[names[0]] };
  const wanted = new Set(specs.map((s) => s.name));
  const missing = specs.filter((s) => !Object.hasOwn(inputs, s.name)).map((s) => s.name);
  if (missing.length) failFile(where, `has no data for model input${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')} (it has ${Object.keys(inputs).map((n) => `'${n}'`).join(', ')})`);
  const extra = Object.keys(inputs).filter((n) => !wanted.has(n));
  if (extra.length) failFile(where, `has data for ${extra.map((n) => `'${n}'`).join(', ')}, which ${extra.length > 1 ? 'are not model inputs' : 'is not a model input'} (model inputs: ${specs.map((s) => s.name).join(', ')})`);
  const out: Record<string, DatasetTensor> = {};
  for (const spec of specs) {
    let t = inputs[spec.name];
    if (spec.shape && spec.shape.length > 0) t = { ...t, shape: fitShape(spec.name, t.shape, spec.shape, where) };
    if (spec.datatype && spec.datatype !== t.datatype) t = castTensor(t, spec.datatype, `${where}: input '${spec.name}'`);
    out[spec.name] = t;
  }
  return { samples: ds.samples, inputs: out };
}

function fitShape(name: string, shape: number[], model: readonly (number | string | null)[], where: string): number[] {
  const per = shape.slice(1);
  const modelPer = model.slice(1);
  const dimsMatch = per.length === modelPer.length && modelPer.every((d, i) => !isFixed(d) || d === per[i]);
  if (dimsMatch) return shape;
  if (modelPer.every(isFixed) && product(modelPer as number[]) === product(per)) return [shape[0], ...(modelPer as number[])];
  let hint = '';
  if (shape.length === modelPer.length && shape.every((d, i) => !isFixed(modelPer[i]) || modelPer[i] === d)) {
    hint = ' (is the sample axis missing? the first axis of the data must be the samples)';
  }
  failFile(where, `input '${name}' has ${shape[0]} samples of shape ${fmtShape(per)}, which does not fit the model's input shape ${fmtShape(model)}${hint}`);
}
