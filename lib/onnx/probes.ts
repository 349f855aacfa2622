/**
 * Probe tensors: onnxruntime returns only graph outputs, so intermediate tensors are exposed by rewriting the
 * graph (withExtraOutputs). inferShapes runs the model once on a tiny batch with every candidate exposed;
 * autoProbes picks MIMIC's probe layers (the last 4-D map at each spatial resolution before global pooling)
 * and the feature tensor, or checks the names a user gave.
 */
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node'; // types only: onnxruntime runs in shape-worker.mjs
import { MimicError } from '../errors.ts';
import { mulberry32 } from '../util/rng.ts';
import { indexGraph, nodeInputs, nodeLabel, topoOrderIndices } from './graph.ts';
import { encodeModel, valueSummary } from './model.ts';
import { DataType, elemTypeName, onnx, shallowCopy, toNum, type ModelProto, type OnnxTypes } from './proto.ts';

/** The graph with its repeated fields non-null (a view; the arrays are the model's own). */
function graphOf(model: ModelProto) {
  const g = model.graph;
  if (!g) throw new MimicError('E_ONNX', 'the model has no graph');
  return {
    name: g.name ?? '',
    node: g.node ?? [],
    input: g.input ?? [],
    output: g.output ?? [],
    initializer: g.initializer ?? [],
    valueInfo: g.valueInfo ?? [],
  };
}

/**
 * Every tensor a probe could read: node outputs (in topological order) that are not graph outputs, skipping
 * the outputs of Constant nodes (initializers and graph inputs are not node outputs).
 */
export function candidateTensors(model: ModelProto): string[] {
  const g = graphOf(model);
  const idx = indexGraph(g);
  const out: string[] = [];
  for (const i of topoOrderIndices(g, idx)) {
    const node = g.node[i];
    if (node.opType === 'Constant' && (node.domain ?? '') === '') continue;
    for (const o of node.output ?? []) if (o && !idx.graphOutputs.has(o)) out.push(o);
  }
  return out;
}

/**
 * Element types of every tensor: declared ones (value_info, inputs, outputs, initializers) first, then a
 * forward pass with simple per-op rules (Shape -> INT64, Cast -> to, comparisons -> BOOL, otherwise the type
 * of the first typed input).
 */
export function elemTypes(model: ModelProto): Map<string, number> {
  const g = graphOf(model);
  const types = new Map<string, number>();
  for (const t of g.initializer ?? []) if (t.name && t.dataType) types.set(t.name, t.dataType);
  for (const v of [...(g.input ?? []), ...(g.valueInfo ?? []), ...(g.output ?? [])]) {
    const e = v.type?.tensorType?.elemType;
    if (v.name && e) types.set(v.name, e);
  }
  const attr = (n: OnnxTypes.INodeProto, name: string) => (n.attribute ?? []).find((a) => a.name === name);
  const BOOL_OPS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
  const INT64_OPS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);
  let order: number[];
  try {
    order = topoOrderIndices(g);
  } catch {
    order = g.node.map((_, i) => i);
  }
  for (const i of order) {
    const n = g.node[i];
    const first = nodeInputs(n).map((t) => types.get(t)).find((t) => t !== undefined) ?? DataType.FLOAT;
    (n.output ?? []).forEach((o, k) => {
      if (!o || types.has(o)) return;
      let t = first;
      const op = n.opType ?? '';
      if (INT64_OPS.has(op)) t = DataType.INT64;
      else if (BOOL_OPS.has(op)) t = DataType.BOOL;
      else if (n.opType === 'Cast') t = toNum(attr(n, 'to')?.i as number) || first;
      else if (n.opType === 'Constant') t = attr(n, 'value')?.t?.dataType || DataType.FLOAT;
      else if (n.opType === 'ConstantOfShape') t = attr(n, 'value')?.t?.dataType || DataType.FLOAT;
      else if ((n.opType === 'TopK' || n.opType === 'MaxPool' || n.opType === 'Unique') && k > 0) t = DataType.INT64;
      else if (n.opType === 'Where') t = types.get(n.input?.[1] ?? '') ?? first;
      else if (n.opType === 'DequantizeLinear') t = DataType.FLOAT;
      else if (n.opType === 'QuantizeLinear') t = types.get(n.input?.[2] ?? '') ?? DataType.UINT8;
      types.set(o, t);
    });
  }
  return types;
}

/**
 * A copy of the model whose graph outputs also include `names` (node outputs, in the order given; names that
 * already are outputs are kept once). Their element type comes from value_info (or the per-op guess of
 * elemTypes, FLOAT by default); their shape is left empty. The original model is not modified.
 */
export function withExtraOutputs(model: ModelProto, names: string[]): ModelProto {
  const g = graphOf(model);
  const idx = indexGraph(g);
  const have = new Set(g.output.map((o) => o.name ?? ''));
  const types = elemTypes(model);
  const extra: OnnxTypes.ValueInfoProto[] = [];
  for (const name of names) {
    if (have.has(name)) continue;
    if (!idx.producer.has(name)) {
      const why = idx.initializers.has(name) ? 'is an initializer' : idx.graphInputs.has(name) ? 'is a graph input' : 'is not produced by any node';
      throw new MimicError('E_INVALID_ARGUMENT', `cannot expose tensor '${name}': it ${why}${suggest(name, allTensorNames(model))}`);
    }
    have.add(name);
    extra.push(onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: types.get(name) ?? DataType.FLOAT } } }));
  }
  const copy = shallowCopy(model);
  copy.graph!.output = [...g.output, ...extra];
  return copy;
}

// ---- shapes ----

export interface ShapeOptions {
  /** samples in the batch (default 2): fills the symbolic / unknown first dim of every input */
  batch?: number;
  /**
   * Dims the model leaves symbolic, per input: the per-sample shape (without the batch dim; a full-rank array's
   * first entry is ignored). An array applies to the only input; a record maps input names to shapes.
   */
  inputShape?: number[] | Record<string, number[]>;
  /** 'zeros' (default) or 'random' (seeded uniform [-1, 1)) */
  fill?: 'zeros' | 'random';
  seed?: number;
  /** onnxruntime intra-op threads (default 1) */
  threads?: number;
  /** tensors to expose (default: every candidate) */
  tensors?: string[];
}

export interface InputSpec {
  name: string;
  elemType: string;
  dims: number[];
}

const ORT_TYPES: Record<number, { type: ort.Tensor.Type; make: (n: number) => ort.Tensor.DataType }> = {
  [DataType.FLOAT]: { type: 'float32', make: (n) => new Float32Array(n) },
  [DataType.DOUBLE]: { type: 'float64', make: (n) => new Float64Array(n) },
  [DataType.INT64]: { type: 'int64', make: (n) => new BigInt64Array(n) },
  [DataType.INT32]: { type: 'int32', make: (n) => new Int32Array(n) },
  [DataType.INT8]: { type: 'int8', make: (n) => new Int8Array(n) },
  [DataType.UINT8]: { type: 'uint8', make: (n) => new Uint8Array(n) },
  [DataType.BOOL]: { type: 'bool', make: (n) => new Uint8Array(n) },
  [DataType.FLOAT16]: { type: 'float16', make: (n) => new Uint16Array(n) },
};

/** The concrete shapes inferShapes feeds: model dims, the batch, and `inputShape` for the symbolic rest. */
export function inputSpecs(model: ModelProto, options: Pick<ShapeOptions, 'batch' | 'inputShape'> = {}): InputSpec[] {
  const g = graphOf(model);
  const batch = options.batch ?? 2;
  if (!Number.isInteger(batch) || batch < 1) throw new MimicError('E_INVALID_ARGUMENT', `batch must be a positive integer (got ${batch})`);
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const inputs = g.input.filter((v) => !inits.has(v.name)).map((v) => ({ ...v, name: v.name ?? '' }));
  const given = options.inputShape;
  if (Array.isArray(given) && inputs.length !== 1) {
    throw new MimicError('E_INVALID_ARGUMENT', `inputShape: the model has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')}); give a record { name: shape }`);
  }
  if (given && !Array.isArray(given)) {
    for (const k of Object.keys(given)) {
      if (!inputs.some((v) => v.name === k)) throw new MimicError('E_INVALID_ARGUMENT', `inputShape: the model has no input '${k}'${suggest(k, inputs.map((v) => v.name))}`);
    }
  }
  return inputs.map((v) => {
    const s = valueSummary(v);
    const code = v.type?.tensorType?.elemType ?? 0;
    if (!ORT_TYPES[code]) throw new MimicError('E_ONNX', `graph input '${v.name}' has element type ${s.elemType}, which inferShapes cannot feed`);
    const user = Array.isArray(given) ? given : given?.[v.name];
    let shape = s.shape;
    if (!shape) {
      if (!user) throw new MimicError('E_INVALID_ARGUMENT', `graph input '${v.name}' has no shape in the model: pass inputShape (the per-sample shape)`);
      shape = ['batch', ...user];
    }
    const perSample = user ? (user.length === shape.length ? user.slice(1) : user) : undefined;
    if (perSample && perSample.length !== shape.length - 1) {
      throw new MimicError('E_INVALID_ARGUMENT', `inputShape for '${v.name}' has ${perSample.length} dims, the input has rank ${shape.length} (${shape.length - 1} per sample)`);
    }
    const dims = shape.map((d, k) => {
      if (k === 0 && typeof d !== 'number') return batch;
      const u = k > 0 ? perSample?.[k - 1] : undefined;
      if (u !== undefined && (!Number.isInteger(u) || u < 1)) throw new MimicError('E_INVALID_ARGUMENT', `inputShape for '${v.name}': dim ${k} must be a positive integer (got ${u})`);
      if (typeof d === 'number') {
        if (u !== undefined && u !== d) throw new MimicError('E_INVALID_ARGUMENT', `inputShape for '${v.name}': dim ${k} is ${u}, but the model fixes it to ${d}`);
        return d;
      }
      if (u === undefined) {
        throw new MimicError('E_INVALID_ARGUMENT', `graph input '${v.name}': dim ${k} ('${d}') is not fixed by the model: pass inputShape (e.g. [${shape.slice(1).map((x) => (typeof x === 'number' ? x : 'n')).join(', ')}])`);
      }
      return u;
    });
    const n = dims.reduce((a, b) => a * b, 1);
    if (n > 2 ** 28) throw new MimicError('E_INVALID_ARGUMENT', `graph input '${v.name}': shape [${dims.join(', ')}] is too large for a shape probe`);
    return { name: v.name, elemType: s.elemType, dims };
  });
}

/**
 * The one image input (N, C, H, W) of an encoder that the runs feed (clean, localize, evaluate): its batch axis free
 * (they run batches of every size) and C, H, W fixed. E_ONNX naming the input and the re-export that fixes it.
 */
export function encoderImageInput(model: ModelProto, source: string, role = 'encoder', inputShape?: readonly number[]): InputSpec {
  const g = graphOf(model);
  const inits = new Set((g.initializer ?? []).map((t) => t.name));
  const inputs = g.input.filter((v) => !inits.has(v.name));
  if (inputs.length !== 1) throw new MimicError('E_ONNX', `${source}: the ${role} must take one image batch (N, C, H, W); it has ${inputs.length} inputs (${inputs.map((v) => v.name).join(', ')})`);
  const s = valueSummary(inputs[0]);
  const name = s.name;
  if (!s.shape || s.shape.length !== 4) throw new MimicError('E_ONNX', `${source}: the ${role}'s input '${name}' must be an image batch (N, C, H, W); its shape is [${s.shape?.join(', ') ?? 'unknown'}]`);
  if (typeof s.shape[0] === 'number')
    throw new MimicError('E_ONNX', `${source}: the ${role}'s input '${name}' has a fixed batch size of ${s.shape[0]}, and the runs feed batches of many images: re-export it with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={'${name}': {0: 'batch'}, ...}))`);
  const free = s.shape.slice(1).filter((d) => typeof d !== 'number');
  if (inputShape !== undefined) {
    if (!Array.isArray(inputShape) || inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1))
      throw new MimicError('E_INVALID_ARGUMENT', `inputShape must be [C, H, W], positive integers (got ${JSON.stringify(inputShape)})`);
    return inputSpecs(model, { batch: 2, inputShape: [...inputShape] })[0]; // checks it against the model's fixed dims
  }
  if (free.length)
    throw new MimicError('E_ONNX', `${source}: the ${role}'s input '${name}' [${s.shape.join(', ')}] leaves ${free.map((d) => `'${d}'`).join(', ')} free: give the image size (inputShape [C, H, W]; CLI --input-shape C,H,W), or re-export it with a fixed image size (only the batch axis dynamic)`);
  return inputSpecs(model, { batch: 2 })[0];
}

type ShapeReply = { ok: boolean; stage?: string; message?: string; shapes?: [string, number[]][] };
let shapeWorker: { worker: Worker; pending: Map<number, (r: ShapeReply) => void>; next: number } | undefined;

/** Sends one request to the shared shape-inference worker (started on first use, unref'd, restarted if it dies). */
function shapeWorkerRun(req: { bytes: Uint8Array; threads: number; feeds: unknown[] }): Promise<ShapeReply> {
  if (!shapeWorker) {
    const worker = new Worker(new URL('./shape-worker.mjs', import.meta.url));
    const state = { worker, pending: new Map<number, (r: ShapeReply) => void>(), next: 1 };
    worker.on('message', (m: ShapeReply & { id: number }) => {
      state.pending.get(m.id)?.(m);
      state.pending.delete(m.id);
      if (state.pending.size === 0) worker.unref();
    });
    const die = (message: string) => {
      for (const done of state.pending.values()) done({ ok: false, stage: 'run', message });
      state.pending.clear();
      if (shapeWorker === state) shapeWorker = undefined;
    };
    worker.on('error', (e) => die(`the shape-inference worker failed: ${e.message}`));
    worker.on('exit', (code) => die(`the shape-inference worker exited (code ${code})`));
    shapeWorker = state;
  }
  const state = shapeWorker;
  const id = state.next++;
  state.worker.ref(); // keep the process alive while a request is out
  return new Promise((resolve) => {
    state.pending.set(id, resolve);
    state.worker.postMessage({ id, ...req });
  });
}

function ortError(what: string, e: unknown): MimicError {
  const msg = (e as Error)?.message ?? String(e);
  return new MimicError('E_ONNX', `onnxruntime ${what}: ${msg.length > 800 ? msg.slice(0, 800) + '...' : msg}`, { cause: e });
}

/**
 * Runs the model once on a `batch`-sample batch (zeros, or seeded random values) with every candidate tensor
 * exposed, and returns tensor name -> shape (batch included) for the candidates and the graph outputs.
 */
export async function inferShapes(model: ModelProto, options: ShapeOptions = {}): Promise<Map<string, number[]>> {
  const specs = inputSpecs(model, options);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 0) throw new MimicError('E_INVALID_ARGUMENT', `threads must be a non-negative integer (got ${threads})`);
  const exposed = withExtraOutputs(model, options.tensors ?? candidateTensors(model));
  const bytes = encodeModel(exposed);
  const rnd = options.fill === 'random' ? mulberry32(options.seed ?? 0) : undefined;
  const g = graphOf(model);
  const feeds: { name: string; type: ort.Tensor.Type; data: ort.Tensor.DataType; dims: number[] }[] = [];
  for (const s of specs) {
    const code = g.input.find((v) => v.name === s.name)!.type!.tensorType!.elemType!;
    const t = ORT_TYPES[code];
    const n = s.dims.reduce((a, b) => a * b, 1);
    const data = t.make(n);
    if (rnd) {
      if (data instanceof Float32Array || data instanceof Float64Array) for (let i = 0; i < n; ++i) data[i] = 2 * rnd() - 1;
      else if (data instanceof BigInt64Array) for (let i = 0; i < n; ++i) data[i] = BigInt(Math.floor(rnd() * 4));
      else if (t.type !== 'float16') for (let i = 0; i < n; ++i) (data as Int32Array)[i] = Math.floor(rnd() * 2);
    }
    feeds.push({ name: s.name, type: t.type, data, dims: s.dims });
  }
  // Session creation and run block their thread: done in a worker so the caller's event loop keeps going.
  const reply = await shapeWorkerRun({ bytes, threads, feeds });
  if (!reply.ok) {
    if (reply.stage === 'load') throw ortError('cannot load the model', new Error(reply.message));
    throw ortError(`failed to run the model on a ${specs.map((s) => `${s.name} [${s.dims.join(', ')}]`).join(', ')} batch`, new Error(reply.message));
  }
  return new Map(reply.shapes);
}

// ---- probes ----

export interface Probe {
  name: string;
  /** full shape, batch first (from inferShapes) */
  shape: number[];
}

export interface ProbeSet {
  probes: Probe[];
  features: Probe;
  /** the global pooling node found after the last 4-D map (automatic selection only) */
  pool?: string;
}

export interface ProbeOptions {
  /** probe tensors by name (default: automatic) */
  probes?: string[];
  /** feature tensor by name (default: the model's first output) */
  features?: string;
}

function allTensorNames(model: ModelProto): string[] {
  const g = graphOf(model);
  const names = new Set<string>();
  for (const v of g.input) if (v.name) names.add(v.name);
  for (const n of g.node ?? []) for (const o of n.output ?? []) if (o) names.add(o);
  return [...names];
}

function editDistance(a: string, b: string): number {
  const m = a.length, n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; ++i) {
    const cur = [i];
    for (let j = 1; j <= n; ++j) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[n];
}

/** Up to 5 names close to `name` (substring matches first, then by edit distance), as a message suffix. */
export function closeMatches(name: string, names: string[], max = 5): string[] {
  const low = name.toLowerCase();
  const scored = names.map((n) => {
    const l = n.toLowerCase();
    const sub = l.includes(low) || low.includes(l) ? 0 : 1;
    return { n, sub, d: editDistance(low, l) };
  });
  const limit = Math.max(3, Math.ceil(name.length * 0.6));
  return scored
    .filter((s) => s.sub === 0 || s.d <= limit)
    .sort((a, b) => a.sub - b.sub || a.d - b.d || a.n.localeCompare(b.n))
    .slice(0, max)
    .map((s) => s.n);
}

function suggest(name: string, names: string[]): string {
  const m = closeMatches(name, names);
  return m.length ? `; close matches: ${m.map((x) => `'${x}'`).join(', ')}` : '';
}

const POOL_OPS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'Flatten', 'ReduceMean', 'Reshape']);

function reducesHW(model: ModelProto, node: OnnxTypes.INodeProto, rank: number): boolean {
  if (node.opType === 'GlobalAveragePool' || node.opType === 'GlobalMaxPool' || node.opType === 'Flatten' || node.opType === 'Reshape') return true;
  if (node.opType === 'ReduceMean') {
    let axes: number[] | undefined = (node.attribute ?? []).find((a) => a.name === 'axes')?.ints?.map((x) => toNum(x as number));
    if (!axes && node.input && node.input[1]) {
      const init = graphOf(model).initializer.find((t) => t.name === node.input![1]);
      if (init) axes = init.int64Data?.length ? init.int64Data.map((x) => toNum(x as number)) : init.rawData?.length && init.rawData.length % 8 === 0 ? Array.from(new BigInt64Array(Uint8Array.prototype.slice.call(init.rawData).buffer), Number) : undefined;
    }
    if (!axes) return false;
    const norm = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
    return norm.has(2) && norm.has(3);
  }
  return false;
}

/**
 * The probe set. Named probes / features are checked (unknown names -> E_INVALID_ARGUMENT listing close
 * matches). Automatic probes: among the 4-D tensors [batch, C, H, W] with H*W > 1 that the feature tensor
 * depends on, the last one (in topological order) at each spatial resolution, up to the last 4-D map before
 * the first global pooling (GlobalAveragePool / ReduceMean over H, W / Flatten) that follows it. For a CIFAR
 * ResNet-18 that is the four stage outputs (64x32x32, 128x16x16, 256x8x8, 512x4x4).
 */
export function autoProbes(model: ModelProto, shapes: Map<string, number[]>, options: ProbeOptions = {}): ProbeSet {
  const g = graphOf(model);
  const idx = indexGraph(g);
  const names = allTensorNames(model);
  const known = (name: string, what: string): Probe => {
    if (!idx.producer.has(name) && !idx.graphInputs.has(name)) {
      const why = idx.initializers.has(name) ? `'${name}' is an initializer, not an activation` : `the model has no tensor '${name}'`;
      throw new MimicError('E_INVALID_ARGUMENT', `${what}: ${why}${suggest(name, names)}`);
    }
    if (idx.graphInputs.has(name)) throw new MimicError('E_INVALID_ARGUMENT', `${what}: '${name}' is the model's input, not a layer's activation`);
    const shape = shapes.get(name);
    if (!shape) throw new MimicError('E_INVALID_ARGUMENT', `${what}: no shape is known for tensor '${name}' (was it exposed to inferShapes?)`);
    return { name, shape };
  };
  const featureName = options.features ?? g.output[0]?.name;
  if (!featureName) throw new MimicError('E_ONNX', 'the model has no outputs');
  const features = known(featureName, 'features');
  if (options.probes) {
    if (options.probes.length === 0) throw new MimicError('E_INVALID_ARGUMENT', 'probes: name at least one tensor (or leave it out for automatic probes)');
    const seen = new Set<string>();
    const probes = options.probes.map((p, i) => {
      if (seen.has(p)) throw new MimicError('E_INVALID_ARGUMENT', `probes[${i}]: '${p}' is named twice`);
      seen.add(p);
      return known(p, `probes[${i}]`);
    });
    return { probes, features };
  }
  // ancestors of the feature tensor
  const ancestors = new Set<string>();
  const stack = [featureName];
  while (stack.length) {
    const t = stack.pop()!;
    const p = idx.producer.get(t);
    if (p === undefined) continue;
    for (const i of nodeInputs(g.node[p])) if (!ancestors.has(i)) { ancestors.add(i); stack.push(i); }
  }
  const batch = features.shape[0];
  const order = topoOrderIndices(g, idx);
  const pos = new Map<number, number>(order.map((n, k) => [n, k]));
  const maps: { name: string; shape: number[]; at: number }[] = [];
  for (const n of order) {
    for (const o of g.node[n].output ?? []) {
      const s = shapes.get(o);
      if (!o || !ancestors.has(o) || !s || s.length !== 4 || s[0] !== batch || s[2] * s[3] <= 1) continue;
      maps.push({ name: o, shape: s, at: pos.get(n)! });
    }
  }
  if (maps.length === 0) {
    throw new MimicError('E_ONNX', `no 4-D feature maps [batch, C, H, W] lead to the features '${featureName}': this does not look like a conv encoder; name the probes instead`);
  }
  const last = maps[maps.length - 1];
  // the first global pooling after the last map
  let pool: string | undefined;
  for (const n of order) {
    if (pos.get(n)! <= last.at) continue;
    const node = g.node[n];
    if (!POOL_OPS.has(node.opType ?? '')) continue;
    const src = (node.input ?? [])[0];
    const s = src ? shapes.get(src) : undefined;
    if (s && s.length === 4 && reducesHW(model, node, 4)) { pool = nodeLabel(node, n); break; }
  }
  const byRes = new Map<string, { name: string; shape: number[]; at: number }>();
  for (const m of maps) byRes.set(`${m.shape[2]}x${m.shape[3]}`, m);
  const probes = [...byRes.values()].sort((a, b) => a.at - b.at).map(({ name, shape }) => ({ name, shape }));
  return { probes, features, pool };
}

/** Convenience: inferShapes + autoProbes, returning the probe set and the model with those tensors exposed. */
export async function prepareProbes(model: ModelProto, options: ShapeOptions & ProbeOptions = {}): Promise<ProbeSet & { model: ModelProto; shapes: Map<string, number[]> }> {
  const shapes = await inferShapes(model, options);
  const set = autoProbes(model, shapes, options);
  const exposed = withExtraOutputs(model, [set.features.name, ...set.probes.map((p) => p.name)]);
  return { ...set, model: exposed, shapes };
}

export { elemTypeName };
