/** Graph navigation: who produces / consumes a tensor, and a topological order of the nodes. */
import { MimicError } from '../errors.ts';
import type { GraphProto, ModelProto, NodeProto } from './proto.ts';

/** How messages name a node: `node 'conv1' (Conv)`, or `node #3 (Conv)` when it has no name. */
export function nodeLabel(node: NodeProto, index: number): string {
  const op = node.opType || '?';
  return node.name ? `node '${node.name}' (${op})` : `node #${index} (${op})`;
}

function graphOf(g: ModelProto | GraphProto): GraphProto {
  if ('graph' in g || 'irVersion' in g || 'opsetImport' in g) {
    const graph = (g as ModelProto).graph;
    if (!graph) throw new MimicError('E_ONNX', 'the model has no graph');
    return graph as GraphProto;
  }
  return g as GraphProto;
}

/** Names a subgraph (If/Loop/Scan bodies) reads from the enclosing scope. */
function outerReferences(sub: GraphProto, out: Set<string>): void {
  const defined = new Set<string>();
  for (const i of sub.input ?? []) if (i.name) defined.add(i.name);
  for (const t of sub.initializer ?? []) if (t.name) defined.add(t.name);
  for (const n of sub.node ?? []) for (const o of n.output ?? []) if (o) defined.add(o);
  for (const n of sub.node ?? []) {
    for (const i of n.input ?? []) if (i && !defined.has(i)) out.add(i);
    for (const a of n.attribute ?? []) {
      const inner = new Set<string>();
      if (a.g) outerReferences(a.g as GraphProto, inner);
      for (const g of a.graphs ?? []) outerReferences(g as GraphProto, inner);
      for (const i of inner) if (!defined.has(i)) out.add(i);
    }
  }
  for (const o of sub.output ?? []) if (o.name && !defined.has(o.name)) out.add(o.name);
}

/** Every tensor a node reads: its explicit (non-empty) inputs, then what its subgraphs read from outside. */
export function nodeInputs(node: NodeProto): string[] {
  const inputs = (node.input ?? []).filter((s) => s !== '');
  let outer: Set<string> | undefined;
  for (const a of node.attribute ?? []) {
    if (a.g || (a.graphs && a.graphs.length)) {
      outer ??= new Set();
      if (a.g) outerReferences(a.g as GraphProto, outer);
      for (const g of a.graphs ?? []) outerReferences(g as GraphProto, outer);
    }
  }
  if (outer) for (const o of outer) if (!inputs.includes(o)) inputs.push(o);
  return inputs;
}

export interface GraphIndex {
  graph: GraphProto;
  /** tensor -> index of the node producing it (the first one, if the graph is invalid and has several) */
  producer: Map<string, number>;
  /** tensor -> indices of the nodes reading it (explicitly or from a subgraph), in node order */
  consumers: Map<string, number[]>;
  initializers: Set<string>;
  /** graph inputs that are not initializers */
  graphInputs: Set<string>;
  graphOutputs: Set<string>;
}

export function indexGraph(model: ModelProto | GraphProto): GraphIndex {
  const graph = graphOf(model);
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  const nodes = graph.node ?? [];
  for (let i = 0; i < nodes.length; ++i) {
    for (const o of nodes[i].output ?? []) if (o && !producer.has(o)) producer.set(o, i);
    for (const t of nodeInputs(nodes[i])) {
      const list = consumers.get(t);
      if (list) { if (list[list.length - 1] !== i) list.push(i); } else consumers.set(t, [i]);
    }
  }
  const initializers = new Set<string>((graph.initializer ?? []).map((t) => t.name ?? '').filter(Boolean));
  for (const s of graph.sparseInitializer ?? []) if (s.values?.name) initializers.add(s.values.name);
  const graphInputs = new Set<string>((graph.input ?? []).map((v) => v.name ?? '').filter((n) => n && !initializers.has(n)));
  const graphOutputs = new Set<string>((graph.output ?? []).map((v) => v.name ?? '').filter(Boolean));
  return { graph, producer, consumers, initializers, graphInputs, graphOutputs };
}

/** The node that produces `tensor`, or undefined (graph input, initializer, or unknown name). */
export function producerOf(model: ModelProto | GraphProto, tensor: string): NodeProto | undefined {
  const idx = indexGraph(model);
  const i = idx.producer.get(tensor);
  return i === undefined ? undefined : idx.graph.node![i];
}

/** The nodes that read `tensor`, in node order. */
export function consumersOf(model: ModelProto | GraphProto, tensor: string): NodeProto[] {
  const idx = indexGraph(model);
  return (idx.consumers.get(tensor) ?? []).map((i) => idx.graph.node![i]);
}

/**
 * Node indices in a topological order (Kahn's algorithm, ties broken by the original node order, so a graph
 * that is already sorted keeps its order). Inputs nobody produces are ignored here (the safety check reports
 * them). A cycle throws E_ONNX naming a node on it and the tensor that closes it.
 */
export function topoOrderIndices(model: ModelProto | GraphProto, index?: GraphIndex): number[] {
  const idx = index ?? indexGraph(model);
  const nodes = idx.graph.node ?? [];
  const n = nodes.length;
  const indeg = new Int32Array(n);
  const deps: number[][] = nodes.map(() => []);
  for (let i = 0; i < n; ++i) {
    const seen = new Set<number>();
    for (const t of nodeInputs(nodes[i])) {
      const p = idx.producer.get(t);
      if (p === undefined || seen.has(p)) continue;
      seen.add(p);
      deps[p].push(i);
      indeg[i]++;
    }
  }
  // binary min-heap of ready node indices
  const heap: number[] = [];
  const push = (v: number) => {
    heap.push(v);
    let k = heap.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (heap[p] <= heap[k]) break;
      [heap[p], heap[k]] = [heap[k], heap[p]];
      k = p;
    }
  };
  const pop = (): number => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let k = 0;
      for (;;) {
        const l = 2 * k + 1, r = l + 1;
        let m = k;
        if (l < heap.length && heap[l] < heap[m]) m = l;
        if (r < heap.length && heap[r] < heap[m]) m = r;
        if (m === k) break;
        [heap[m], heap[k]] = [heap[k], heap[m]];
        k = m;
      }
    }
    return top;
  };
  for (let i = 0; i < n; ++i) if (indeg[i] === 0) push(i);
  const order: number[] = [];
  while (heap.length) {
    const i = pop();
    order.push(i);
    for (const j of deps[i]) if (--indeg[j] === 0) push(j);
  }
  if (order.length < n) {
    // walk back along unfinished producers from an unfinished node until a node repeats: that is a cycle
    let cur = indeg.findIndex((d) => d > 0);
    const visited = new Map<number, string>();
    for (;;) {
      const next = nodeInputs(nodes[cur])
        .map((t) => ({ t, p: idx.producer.get(t) }))
        .find((x) => x.p !== undefined && indeg[x.p] > 0);
      if (!next) break; // cannot happen: an unfinished node has an unfinished producer
      visited.set(cur, next.t);
      if (visited.has(next.p!)) {
        throw new MimicError('E_ONNX', `the graph has a cycle: ${nodeLabel(nodes[cur], cur)} reads tensor '${next.t}', which depends on its own output`);
      }
      cur = next.p!;
    }
    throw new MimicError('E_ONNX', `the graph has a cycle through ${nodeLabel(nodes[cur], cur)}`);
  }
  return order;
}

/** The nodes in a topological order (see topoOrderIndices). */
export function topoOrder(model: ModelProto | GraphProto): NodeProto[] {
  const idx = indexGraph(model);
  return topoOrderIndices(model, idx).map((i) => idx.graph.node![i]);
}
