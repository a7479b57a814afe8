/**
 * Visiting every tensor of a model: graph initializers, node attribute tensors, sparse tensors,
 * and everything inside subgraphs (If/Loop/Scan bodies), training graphs and functions.
 */
import type { AttributeProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto } from './types.js';

export type TensorSite = 'initializer' | 'sparse_initializer' | 'attribute';

/**
 * Returns a copy of the model in which every tensor is replaced by `fn(tensor, site)`. Containers
 * are shallow-copied and tensors not replaced are shared, so no tensor data is copied. The input
 * model is not modified.
 */
export function mapTensors(model: ModelProto, fn: (t: TensorProto, site: TensorSite) => TensorProto): ModelProto {
  const sparse = (s: SparseTensorProto, site: TensorSite): SparseTensorProto => {
    const out = { ...s };
    if (s.values) out.values = fn(s.values, site);
    if (s.indices) out.indices = fn(s.indices, site);
    return out;
  };
  const attribute = (a: AttributeProto): AttributeProto => {
    const out = { ...a };
    if (a.t) out.t = fn(a.t, 'attribute');
    if (a.tensors) out.tensors = a.tensors.map((t) => fn(t, 'attribute'));
    if (a.sparseTensor) out.sparseTensor = sparse(a.sparseTensor, 'attribute');
    if (a.sparseTensors) out.sparseTensors = a.sparseTensors.map((s) => sparse(s, 'attribute'));
    if (a.g) out.g = graph(a.g);
    if (a.graphs) out.graphs = a.graphs.map(graph);
    return out;
  };
  const node = (n: NodeProto): NodeProto => ({ ...n, attribute: (n.attribute ?? []).map(attribute) });
  const graph = (g: GraphProto): GraphProto => {
    const out: GraphProto = {
      ...g,
      node: (g.node ?? []).map(node),
      initializer: (g.initializer ?? []).map((t) => fn(t, 'initializer')),
    };
    if (g.sparseInitializer) out.sparseInitializer = g.sparseInitializer.map((s) => sparse(s, 'sparse_initializer'));
    return out;
  };
  const out: ModelProto = { ...model };
  if (model.graph) out.graph = graph(model.graph);
  if (model.trainingInfo) {
    out.trainingInfo = model.trainingInfo.map((ti) => {
      const copy = { ...ti };
      if (ti.initialization) copy.initialization = graph(ti.initialization);
      if (ti.algorithm) copy.algorithm = graph(ti.algorithm);
      return copy;
    });
  }
  if (model.functions) {
    out.functions = model.functions.map((f) => {
      const copy = { ...f };
      if (f.node) copy.node = f.node.map(node);
      if (f.attributeProto) copy.attributeProto = f.attributeProto.map(attribute);
      return copy;
    });
  }
  return out;
}

/** Calls `fn` for every tensor of the model (same coverage as mapTensors), in place. */
export function forEachTensor(model: ModelProto, fn: (t: TensorProto, site: TensorSite) => void): void {
  mapTensors(model, (t, site) => {
    fn(t, site);
    return t;
  });
}

/** Every graph of the model: the main graph first, then subgraphs depth-first. */
export function allGraphs(model: ModelProto): GraphProto[] {
  const out: GraphProto[] = [];
  const visitNodes = (nodes: NodeProto[] | undefined): void => {
    for (const n of nodes ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.g) visit(a.g);
        for (const g of a.graphs ?? []) visit(g);
      }
    }
  };
  const visit = (g: GraphProto): void => {
    out.push(g);
    visitNodes(g.node);
  };
  if (model.graph) visit(model.graph);
  for (const ti of model.trainingInfo ?? []) {
    if (ti.initialization) visit(ti.initialization);
    if (ti.algorithm) visit(ti.algorithm);
  }
  for (const f of model.functions ?? []) visitNodes(f.node);
  return out;
}
