/**
 * ONNX graph -> NetworkSpec (the plain layer list the native engine takes), with the teacher's weights or as
 * a fresh, seeded, torchvision-style replica (init.ts), optionally with the BatchNorms that PyTorch's eval
 * export folded into convs put back.
 *
 * Supported: Conv (2-D, group >= 1, explicit pads or auto_pad NOTSET / VALID), BatchNormalization (inference
 * form), Relu, Clip (constant bounds: ReLU6), LeakyRelu, SiLU (Sigmoid x Mul of the same x), Add (two activations of equal shape), MaxPool / AveragePool (2-D,
 * NOTSET / VALID padding),
 * GlobalAveragePool, Flatten (axis 1), Reshape (constant shape keeping the batch dim), Gemm (alpha = beta =
 * 1, transA = 0, constant B and C), MatMul (constant 2-D second input; a MatMul followed only by an Add of a
 * constant [N] bias becomes one Gemm when its input is 2-D). Identity, Dropout (inference: no mask output
 * used, no training_mode = true) and Constant nodes are skipped / folded into constants. Three export patterns:
 * shape arithmetic on the batch size (Shape / Gather / Unsqueeze / Cast / Concat, torch's x.view(x.size(0), -1))
 * into a Reshape [0, ...]; ReduceMean over axes (2, 3) as GlobalAveragePool (+ Flatten without keepdims);
 * ReduceL2 (axis 1) -> Clip(min 1e-12) -> Expand -> Div(x, .) (F.normalize) as L2Norm. Op types outside all of
 * this are listed together (checkOpTypes); anything else unsupported is E_ONNX naming the node and its op type.
 *
 * BatchNorm unfolding (option unfoldBatchNorm, default on for 'fresh', off for 'teacher'), the rule:
 *   a Conv gets a BatchNormalization back when (1) no BatchNormalization node of the graph reads a Conv, (2) the
 *   Conv has a bias, and (3) its output is read only by Relu / Clip / LeakyRelu / Add nodes (at least one), not a graph
 *   output.
 * Why: torch.onnx's eval-mode export folds BN into the preceding Conv when it folds at all, and then folds
 * every Conv->BN pair of the model; a graph with a Conv -> BatchNormalization pair was exported with BN kept, so a
 * Conv there without a following BN had none in the original (1) (a BatchNorm1d after a Linear is never folded: it
 * says nothing about the convs). Folding always leaves a bias, and the
 * convs of ResNets / VGG-BN / torchvision models are bias-free, so a bias is the fold's fingerprint; a conv
 * with bias = False in a folded graph had no BN (2). A conv that ends the network or feeds pooling / a head
 * directly is a projection head, not a conv-bn unit of the backbone (3). For the CIFAR / torchvision ResNets
 * this marks exactly the 20 convs that carried a BN.
 * A restored BN: conv bias dropped; 'fresh': gamma 1, beta 0, running mean 0, var 1; 'teacher': an exact
 * eval-mode identity plus the old bias (gamma = sqrt(1 + eps), beta = the conv's bias, mean 0, var 1).
 */
import { MimicError } from '../errors.ts';
import { indexGraph, nodeLabel, topoOrderIndices } from '../onnx/graph.ts';
import { valueSummary } from '../onnx/model.ts';
import { DataType, toNum, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import { constant, kaimingNormalFanOut, linearDefault, paramSeed } from './init.ts';
import { SUPPORTED_OPS, type LayerSpec, type NetworkSpec, type TensorSpec } from './spec.ts';
import { layerOutputShape, reshapeShape, type OnnxIo } from './to-onnx.ts';

export type { OnnxIo } from './to-onnx.ts';

export interface FromOnnxOptions {
  /** 'teacher': the graph's initializers; 'fresh': torchvision-style initialisation (init.ts), seeded */
  weights: 'teacher' | 'fresh';
  /** seed of the fresh weights (default 0) */
  seed?: number;
  /** put back the BatchNorms folded into convs (see the rule above); default true for 'fresh', false for 'teacher' */
  unfoldBatchNorm?: boolean;
  /** BN momentum (PyTorch convention) for every BN layer; default: 1 - the node's ONNX momentum (0.1 when absent or restored) */
  batchNormMomentum?: number;
  /** per-sample input shapes by input name (no batch dim), where the graph's are symbolic or missing */
  inputShapes?: Record<string, number[]>;
  /** what messages call the model (default '<model>') */
  source?: string;
}

/** A spec read from ONNX: the teacher's declared inputs / outputs, and the convs that got a BN back. */
export interface OnnxNetworkSpec extends NetworkSpec {
  io: OnnxIo;
  /** names of the Conv layers that got a BatchNormalization back */
  unfolded: string[];
}

const SKIPPED = ['Identity', 'Dropout', 'Constant'];
// Ops read only as parts of the export patterns below (batch-size shape arithmetic, x.mean((2, 3)), F.normalize).
const PATTERN_OPS = ['Shape', 'Gather', 'Unsqueeze', 'Concat', 'Cast', 'ReduceMean', 'ReduceL2', 'Clip', 'Expand', 'Div', 'Sigmoid', 'Mul'];
const SUPPORTED_TEXT =
  `supported ops: ${SUPPORTED_OPS.filter((o) => o !== 'L2Norm' && o !== 'Silu').join(', ')}; also x * sigmoid(x) (SiLU: Sigmoid / Mul), x.view(x.size(0), -1) (Shape / Gather / ` +
  'Unsqueeze / Concat into a Reshape), x.mean((2, 3)) (ReduceMean), F.normalize(x, dim=1) (ReduceL2 / Clip / Expand / Div); ' +
  'Identity and inference-mode Dropout are skipped';

function unsupported(label: string, why: string): MimicError {
  return new MimicError('E_ONNX', `${label}: ${why}; ${SUPPORTED_TEXT}`);
}

/** Every op type of the graph the reader never supports, with its count and first node, in one error. */
function checkOpTypes(nodes: NodeProto[], source: string): void {
  const known = new Set<string>([...SUPPORTED_OPS, ...SKIPPED, ...PATTERN_OPS]);
  const bad = new Map<string, { count: number; first: string }>();
  nodes.forEach((n, i) => {
    const op = n.opType ?? '';
    if (known.has(op) && (!n.domain || n.domain === 'ai.onnx')) return;
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${op}` : op || '(empty)';
    const b = bad.get(key) ?? { count: 0, first: nodeLabel(n, i) };
    b.count += 1;
    bad.set(key, b);
  });
  if (!bad.size) return;
  const list = [...bad].map(([op, b]) => `${op} x${b.count} (first: ${b.first})`).join(', ');
  throw new MimicError('E_ONNX', `${source}: ${bad.size === 1 ? 'an op type' : `${bad.size} op types`} the engine cannot train: ${list}; ${SUPPORTED_TEXT}`);
}

// ---- tensors ----

function dimsOf(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => toNum(d as number));
}

function floatData(t: TensorProto, what: string): Float32Array {
  const dims = dimsOf(t);
  const n = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  let out: Float32Array;
  if (t.dataType === DataType.FLOAT) {
    if (raw) {
      if (raw.length !== 4 * n) throw new MimicError('E_ONNX', `${what}: ${raw.length} raw bytes for ${n} floats`);
      out = new Float32Array(n);
      new Uint8Array(out.buffer).set(raw);
    } else out = Float32Array.from(t.floatData ?? []);
  } else if (t.dataType === DataType.DOUBLE) {
    if (raw) {
      if (raw.length !== 8 * n) throw new MimicError('E_ONNX', `${what}: ${raw.length} raw bytes for ${n} doubles`);
      const c = new Uint8Array(raw); // aligned copy
      out = Float32Array.from(new Float64Array(c.buffer, 0, n));
    } else out = Float32Array.from(t.doubleData ?? []);
  } else {
    throw new MimicError('E_ONNX', `${what}: element type ${t.dataType} where FLOAT is needed`);
  }
  if (out.length !== n) throw new MimicError('E_ONNX', `${what}: ${out.length} values for dims [${dims}]`);
  return out;
}

function intData(t: TensorProto, what: string): number[] {
  const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
  if (t.dataType === DataType.INT64) {
    if (raw) {
      const c = new Uint8Array(raw);
      return Array.from(new BigInt64Array(c.buffer, 0, c.length / 8), (v) => Number(v));
    }
    return (t.int64Data ?? []).map((v) => toNum(v as number));
  }
  if (t.dataType === DataType.INT32) {
    if (raw) {
      const c = new Uint8Array(raw);
      return Array.from(new Int32Array(c.buffer, 0, c.length / 4));
    }
    return [...(t.int32Data ?? [])];
  }
  throw new MimicError('E_ONNX', `${what}: element type ${t.dataType} where INT64 is needed`);
}

// ---- attributes ----

function attrs(node: NodeProto): Map<string, NonNullable<NodeProto['attribute']>[number]> {
  return new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
}
function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attrs(node).get(name);
  return a ? toNum(a.i as number) : dflt;
}
function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attrs(node).get(name);
  return a ? (a.ints ?? []).map((v) => toNum(v as number)) : undefined;
}
function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = attrs(node).get(name);
  return a ? (a.f ?? 0) : dflt;
}
function attrString(node: NodeProto, name: string): string | undefined {
  const a = attrs(node).get(name);
  return a?.s ? new TextDecoder().decode(a.s) : undefined;
}

// ---- the reader ----

/** Reads an ONNX graph into a NetworkSpec (see the file comment for the supported ops and the BN rule). */
export function specFromOnnx(model: ModelProto, options: FromOnnxOptions): OnnxNetworkSpec {
  const source = options.source ?? '<model>';
  if (options.weights !== 'teacher' && options.weights !== 'fresh') throw new MimicError('E_INVALID_ARGUMENT', `specFromOnnx: weights must be 'teacher' or 'fresh' (got ${String(options.weights)})`);
  const fresh = options.weights === 'fresh';
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new MimicError('E_INVALID_ARGUMENT', `specFromOnnx: seed must be an integer (got ${seed})`);
  const unfold = options.unfoldBatchNorm ?? fresh;
  const momentumOpt = options.batchNormMomentum;
  if (momentumOpt !== undefined && !(momentumOpt >= 0 && momentumOpt <= 1)) throw new MimicError('E_INVALID_ARGUMENT', `specFromOnnx: batchNormMomentum must be in [0, 1] (got ${momentumOpt})`);

  const g = model.graph;
  if (!g) throw new MimicError('E_ONNX', `${source}: the model has no graph`);
  const idx = indexGraph(model);
  const order = topoOrderIndices(model, idx);
  const nodes = g.node ?? [];

  // constants: initializers and Constant nodes
  const constants = new Map<string, TensorProto>();
  for (const t of g.initializer ?? []) if (t.name) constants.set(t.name, t);
  for (let i = 0; i < nodes.length; ++i) {
    const n = nodes[i];
    if (n.opType !== 'Constant' || (n.domain && n.domain !== 'ai.onnx')) continue;
    const a = attrs(n);
    const label = nodeLabel(n, i);
    let t: TensorProto | undefined;
    if (a.get('value')?.t) t = a.get('value')!.t!;
    else if (a.has('value_ints')) t = { dataType: DataType.INT64, dims: [attrInts(n, 'value_ints')!.length], int64Data: attrInts(n, 'value_ints') };
    else if (a.has('value_int')) t = { dataType: DataType.INT64, dims: [], int64Data: [attrInt(n, 'value_int', 0)] };
    else if (a.has('value_float')) t = { dataType: DataType.FLOAT, dims: [], floatData: [attrFloat(n, 'value_float', 0)] };
    else if (a.has('value_floats')) t = { dataType: DataType.FLOAT, dims: [a.get('value_floats')!.floats!.length], floatData: a.get('value_floats')!.floats! };
    else throw unsupported(`${source}: ${label}`, 'a Constant of this form is not supported');
    constants.set(n.output![0], t);
  }

  // graph inputs: per-sample shapes
  const io: OnnxIo = { inputs: [], outputs: [], batchDim: 'N' };
  const shapes = new Map<string, number[]>();
  const inputs: NetworkSpec['inputs'] = [];
  let batchNamed = false;
  for (const v of g.input ?? []) {
    if (!v.name || constants.has(v.name)) continue;
    const s = valueSummary(v);
    io.inputs.push({ name: s.name, shape: s.shape });
    if (s.elemType !== 'FLOAT') throw new MimicError('E_ONNX', `${source}: graph input '${s.name}' is ${s.elemType}; only FLOAT inputs are supported`);
    if (s.shape && typeof s.shape[0] === 'string' && s.shape[0] !== '?' && !batchNamed) {
      io.batchDim = s.shape[0];
      batchNamed = true;
    }
    let per: number[];
    const given = options.inputShapes?.[s.name];
    if (given) per = given;
    else {
      if (!s.shape || s.shape.length < 2 || s.shape.slice(1).some((d) => typeof d !== 'number' || d <= 0)) {
        throw new MimicError('E_ONNX', `${source}: graph input '${s.name}' has shape [${s.shape?.join(', ') ?? '?'}]: need [batch, ...fixed dims] (or pass inputShapes)`);
      }
      per = s.shape.slice(1) as number[];
    }
    if (!per.length || per.some((d) => !Number.isInteger(d) || d <= 0)) throw new MimicError('E_INVALID_ARGUMENT', `specFromOnnx: input '${s.name}' shape [${per}] is not a list of positive integers`);
    shapes.set(s.name, per);
    inputs.push({ name: s.name, shape: per });
  }
  if (!inputs.length) throw new MimicError('E_ONNX', `${source}: the graph has no (non-initializer) input`);
  for (const v of g.output ?? []) {
    const s = valueSummary(v);
    io.outputs.push({ name: s.name, shape: s.shape });
  }

  checkOpTypes(nodes, source);
  // rule (1): a Conv -> BatchNormalization pair left in the graph means the export kept the convs' BNs
  const convOutputs = new Set(nodes.filter((n) => n.opType === 'Conv').map((n) => n.output?.[0]));
  const hasBN = nodes.some((n) => n.opType === 'BatchNormalization' && convOutputs.has(n.input?.[0]));
  // Integer shape arithmetic on the batch (x.view(x.size(0), -1)): 'N' the batch size, numbers the fixed dims.
  const shapeExpr = new Map<string, (number | 'N')[]>();
  const intsOf = (t: string | undefined): (number | 'N')[] | undefined =>
    t === undefined ? undefined : (shapeExpr.get(t) ?? (constants.has(t) ? intData(constants.get(t)!, `'${t}'`) : undefined));
  // F.normalize(x, dim=1) as exported: ReduceL2 -> Clip(min eps) -> Expand -> Div(x, .), the norms of x pending
  const pendingNorm = new Map<string, { x: string; eps?: number }>();
  // SiLU as exported: Sigmoid(x) read by one Mul(x, .): the sigmoids pending their Mul
  const pendingSigmoid = new Map<string, string>();
  const alias = new Map<string, string>();
  const resolve = (t: string) => alias.get(t) ?? t;
  const layers: LayerSpec[] = [];
  const layerNames = new Set<string>();
  const tensorNames = new Set<string>([...constants.keys(), ...nodes.flatMap((n) => n.output ?? []), ...inputs.map((i) => i.name)]);
  const uniqueTensor = (base: string) => {
    let n = base;
    for (let k = 1; tensorNames.has(n); ++k) n = `${base}_${k}`;
    tensorNames.add(n);
    return n;
  };
  const uniqueLayer = (base: string) => {
    let n = base;
    for (let k = 1; layerNames.has(n); ++k) n = `${base}_${k}`;
    layerNames.add(n);
    return n;
  };
  // params / buffers in first-use order; `init` says how a fresh replica draws each
  type Init = { kind: 'conv' } | { kind: 'zero' } | { kind: 'one' } | { kind: 'linear'; fanIn: number } | { kind: 'value'; data: Float32Array };
  const params: (TensorSpec & { init: Init })[] = [];
  const buffers: (TensorSpec & { init: Init })[] = [];
  const paramIndex = new Map<string, number>();
  const bufferIndex = new Map<string, number>();
  const unfoldedConvs: string[] = [];

  const skipGraphReaders = new Set<number>();

  for (const i of order) {
    const n = nodes[i];
    const op = n.opType ?? '';
    const label = `${source}: ${nodeLabel(n, i)}`;
    if (n.domain && n.domain !== 'ai.onnx') throw unsupported(label, `domain '${n.domain}' is not supported`);
    if (skipGraphReaders.has(i)) continue;
    const ins = n.input ?? [];
    const outs = n.output ?? [];
    const act = (k: number): string => {
      const t = ins[k];
      if (!t) throw unsupported(label, `input ${k} is missing`);
      if (constants.has(t)) throw unsupported(label, `input ${k} ('${t}') is a constant where ${op} needs an activation`);
      const r = resolve(t);
      if (!shapes.has(r)) throw new MimicError('E_ONNX', `${label}: input '${t}' is produced by no supported node or graph input`);
      return r;
    };
    const cst = (k: number, what: string): TensorProto => {
      const t = ins[k];
      const c = t ? constants.get(t) : undefined;
      if (!c) throw unsupported(label, `${what} ('${t ?? ''}') must be a constant initializer`);
      return c;
    };
    const addTensor = (list: typeof params, index: Map<string, number>, name: string, t: TensorProto | null, shape: number[], init: Init) => {
      if (index.has(name)) return name;
      index.set(name, list.length);
      const data = fresh || !t ? undefined : floatData(t, `${label}: '${name}'`);
      list.push({ name, shape, init: data ? { kind: 'value', data } : init });
      return name;
    };
    const param = (name: string, t: TensorProto | null, shape: number[], init: Init) => {
      if (bufferIndex.has(name)) throw unsupported(label, `'${name}' is used both as a parameter and as a running statistic`);
      return addTensor(params, paramIndex, name, t, shape, init);
    };
    const buffer = (name: string, t: TensorProto | null, shape: number[], init: Init) => {
      if (paramIndex.has(name)) throw unsupported(label, `'${name}' is used both as a parameter and as a running statistic`);
      return addTensor(buffers, bufferIndex, name, t, shape, init);
    };
    const paramDims = (name: string) => (params[paramIndex.get(name)!] ?? buffers[bufferIndex.get(name)!]).shape;
    const emit = (layer: Omit<LayerSpec, 'name'> & { name?: string }, nodeName?: string) => {
      const l: LayerSpec = { ...layer, name: uniqueLayer(layer.name ?? (nodeName || `${layer.op}_${i}`)) } as LayerSpec;
      try {
        shapes.set(l.outputs[0], layerOutputShape(l, l.inputs.map((t) => shapes.get(t)!), paramDims));
      } catch (e) {
        throw new MimicError('E_ONNX', `${label}: ${(e as Error).message}`, { cause: e });
      }
      layers.push(l);
      return l;
    };
    const noAutoPad = () => {
      const ap = attrString(n, 'auto_pad');
      if (ap && ap !== 'NOTSET' && ap !== 'VALID') throw unsupported(label, `auto_pad ${ap} is not supported (explicit pads only)`);
      return ap === 'VALID';
    };
    if (outs.length !== 1 && !(op === 'Dropout' || op === 'BatchNormalization' || op === 'MaxPool')) {
      if (!SKIPPED.includes(op) && !(SUPPORTED_OPS as readonly string[]).includes(op)) throw unsupported(label, `op type ${op} is not supported`);
      throw unsupported(label, `${outs.length} outputs (one expected)`);
    }
    const extraOutputsUsed = outs.slice(1).some((o) => o && ((idx.consumers.get(o)?.length ?? 0) > 0 || idx.graphOutputs.has(o)));

    switch (op) {
      case 'Constant':
        break;
      case 'Identity':
        if (constants.has(ins[0])) constants.set(outs[0], constants.get(ins[0])!);
        else alias.set(outs[0], act(0));
        break;
      case 'Dropout': {
        if (extraOutputsUsed) throw unsupported(label, 'the mask output is used (training form)');
        if (ins[2]) {
          const tm = constants.get(ins[2]);
          if (!tm || intOrBool(tm) !== 0) throw unsupported(label, 'training_mode is not a constant false (training form)');
        }
        if (attrInt(n, 'is_test', 1) === 0) throw unsupported(label, 'is_test = 0 (training form)');
        alias.set(outs[0], act(0));
        break;
      }
      case 'Conv': {
        const x = act(0);
        const wT = cst(1, 'the weight');
        const w = dimsOf(wT);
        if (w.length !== 4) throw unsupported(label, `only 2-D convolutions are supported (weight dims [${w}])`);
        const valid = noAutoPad();
        const ks = attrInts(n, 'kernel_shape');
        if (ks && (ks.length !== 2 || ks[0] !== w[2] || ks[1] !== w[3])) throw unsupported(label, `kernel_shape [${ks}] disagrees with the weight [${w}]`);
        const group = attrInt(n, 'group', 1);
        const wName = param(ins[1], wT, w, { kind: 'conv' });
        let bName: string | undefined;
        if (ins[2]) {
          const bT = cst(2, 'the bias');
          if (dimsOf(bT).reduce((a, b) => a * b, 1) !== w[0]) throw unsupported(label, `bias dims [${dimsOf(bT)}] do not match ${w[0]} output channels`);
          bName = ins[2];
        }
        const out = outs[0];
        const readers = idx.consumers.get(out) ?? [];
        const restore = unfold && !hasBN && bName !== undefined && !idx.graphOutputs.has(out) && readers.length > 0 && readers.every((r) => ['Relu', 'Add', 'Clip', 'LeakyRelu', 'Sigmoid', 'Mul'].includes(nodes[r].opType ?? ''));
        const convAttrs = { strides: attrInts(n, 'strides') ?? [1, 1], pads: valid ? [0, 0, 0, 0] : (attrInts(n, 'pads') ?? [0, 0, 0, 0]), dilations: attrInts(n, 'dilations') ?? [1, 1], group };
        if (!restore) {
          if (bName) param(bName, cst(2, 'the bias'), [w[0]], { kind: 'zero' });
          emit({ op: 'Conv', inputs: [x], outputs: [out], params: bName ? [wName, bName] : [wName], attrs: convAttrs }, n.name ?? '');
          break;
        }
        const pre = uniqueTensor(`${out}_prebn`);
        const conv = emit({ op: 'Conv', inputs: [x], outputs: [pre], params: [wName], attrs: convAttrs }, n.name ?? '');
        const c = w[0];
        const base = conv.name;
        const eps = 1e-5;
        const biasT = constants.get(bName!)!;
        const bnScale = param(uniqueTensor(`${base}/bn.weight`), null, [c], fresh ? { kind: 'one' } : { kind: 'value', data: constant(c, Math.fround(Math.sqrt(1 + eps))) });
        const bnBias = param(uniqueTensor(`${base}/bn.bias`), null, [c], fresh ? { kind: 'zero' } : { kind: 'value', data: floatData(biasT, `${label}: '${bName}'`) });
        const bnMean = buffer(uniqueTensor(`${base}/bn.running_mean`), null, [c], { kind: 'zero' });
        const bnVar = buffer(uniqueTensor(`${base}/bn.running_var`), null, [c], { kind: 'one' });
        emit({ op: 'BatchNormalization', name: `${base}/bn`, inputs: [pre], outputs: [out], params: [bnScale, bnBias], buffers: [bnMean, bnVar], attrs: { epsilon: eps, momentum: momentumOpt ?? 0.1 } });
        unfoldedConvs.push(conv.name);
        break;
      }
      case 'BatchNormalization': {
        if (extraOutputsUsed || outs.length > 1 && outs.slice(1).some(Boolean)) throw unsupported(label, 'training-mode outputs (running mean / var) are requested');
        if (attrInt(n, 'training_mode', 0) !== 0) throw unsupported(label, 'training_mode = 1');
        if (attrInt(n, 'spatial', 1) !== 1) throw unsupported(label, 'spatial = 0');
        const x = act(0);
        const c = shapes.get(x)![0];
        const names = [1, 2, 3, 4].map((k) => {
          const t = cst(k, ['the scale', 'the bias', 'the running mean', 'the running variance'][k - 1]);
          if (dimsOf(t).reduce((a, b) => a * b, 1) !== c) throw unsupported(label, `'${ins[k]}' has dims [${dimsOf(t)}] for ${c} channels`);
          return t;
        });
        const scale = param(ins[1], names[0], [c], { kind: 'one' });
        const bias = param(ins[2], names[1], [c], { kind: 'zero' });
        const mean = buffer(ins[3], names[2], [c], { kind: 'zero' });
        const vr = buffer(ins[4], names[3], [c], { kind: 'one' });
        const m = momentumOpt ?? 1 - attrFloat(n, 'momentum', 0.9);
        emit({ op: 'BatchNormalization', inputs: [x], outputs: [outs[0]], params: [scale, bias], buffers: [mean, vr], attrs: { epsilon: attrFloat(n, 'epsilon', 1e-5), momentum: m } }, n.name ?? '');
        break;
      }
      case 'Relu':
      case 'GlobalAveragePool':
        emit({ op, inputs: [act(0)], outputs: [outs[0]], attrs: {} }, n.name ?? '');
        break;
      case 'Add':
        emit({ op: 'Add', inputs: [act(0), act(1)], outputs: [outs[0]], attrs: {} }, n.name ?? '');
        break;
      case 'MaxPool':
      case 'AveragePool': {
        if (extraOutputsUsed) throw unsupported(label, 'the indices output is used');
        const x = act(0);
        const valid = noAutoPad();
        const k = attrInts(n, 'kernel_shape');
        if (!k || k.length !== 2) throw unsupported(label, `only 2-D pooling is supported (kernel_shape [${k ?? ''}])`);
        const dil = attrInts(n, 'dilations');
        if (dil && dil.some((d) => d !== 1)) throw unsupported(label, `dilations [${dil}] are not supported`);
        if (op === 'MaxPool' && attrInt(n, 'storage_order', 0) !== 0) throw unsupported(label, 'storage_order = 1');
        const a: Record<string, number | number[]> = {
          kernel_shape: k,
          strides: attrInts(n, 'strides') ?? [1, 1],
          pads: valid ? [0, 0, 0, 0] : (attrInts(n, 'pads') ?? [0, 0, 0, 0]),
          ceil_mode: attrInt(n, 'ceil_mode', 0),
        };
        if (op === 'AveragePool') a.count_include_pad = attrInt(n, 'count_include_pad', 0);
        emit({ op, inputs: [x], outputs: [outs[0]], attrs: a }, n.name ?? '');
        break;
      }
      case 'Flatten': {
        const x = act(0);
        let axis = attrInt(n, 'axis', 1);
        if (axis < 0) axis += shapes.get(x)!.length + 1;
        if (axis !== 1) throw unsupported(label, `Flatten axis ${attrInt(n, 'axis', 1)} mixes the batch dim (only axis 1 is supported)`);
        emit({ op: 'Flatten', inputs: [x], outputs: [outs[0]], attrs: { axis: 1 } }, n.name ?? '');
        break;
      }
      case 'Reshape': {
        const x = act(0);
        let shape: number[];
        if (ins[1] && shapeExpr.has(ins[1])) {
          // computed from the batch size: the batch entry first (the engine's 0 = "copy the batch dim"), numbers after
          const e = shapeExpr.get(ins[1])!;
          if (e[0] !== 'N' || e.slice(1).includes('N')) throw unsupported(label, `the shape [${e}] moves the batch dim (only a leading batch entry is supported)`);
          shape = [0, ...(e.slice(1) as number[])];
        } else if (ins[1]) {
          const t = constants.get(ins[1]);
          if (!t) throw unsupported(label, `the shape input '${ins[1]}' is not a constant (only constant shapes are supported)`);
          shape = intData(t, `${label}: shape '${ins[1]}'`);
        } else {
          const s = attrInts(n, 'shape');
          if (!s) throw unsupported(label, 'no shape');
          shape = s;
        }
        if (attrInt(n, 'allowzero', 0) !== 0 && shape.includes(0)) throw unsupported(label, 'allowzero = 1 with a 0 in the shape');
        // normalise to the batch-preserving form the engine takes (first entry 0 or -1)
        reshapeShape(shapes.get(x)!, shape, (why) => unsupported(label, why));
        emit({ op: 'Reshape', inputs: [x], outputs: [outs[0]], attrs: { shape } }, n.name ?? '');
        break;
      }
      case 'Gemm': {
        if (attrFloat(n, 'alpha', 1) !== 1 || attrFloat(n, 'beta', 1) !== 1) throw unsupported(label, `alpha ${attrFloat(n, 'alpha', 1)}, beta ${attrFloat(n, 'beta', 1)} (only alpha = beta = 1 is supported)`);
        if (attrInt(n, 'transA', 0) !== 0) throw unsupported(label, 'transA = 1 is not supported');
        const x = act(0);
        const transB = attrInt(n, 'transB', 0);
        const wT = cst(1, 'the weight B');
        const w = dimsOf(wT);
        if (w.length !== 2) throw unsupported(label, `weight dims [${w}] (2-D expected)`);
        const nOut = transB ? w[0] : w[1];
        const fanIn = transB ? w[1] : w[0];
        const ps = [param(ins[1], wT, w, { kind: 'linear', fanIn })];
        if (ins[2]) {
          const cT = cst(2, 'the bias C');
          const cd = dimsOf(cT);
          if (cd.reduce((a, b) => a * b, 1) !== nOut || cd.length > 2 || (cd.length === 2 && cd[0] !== 1)) throw unsupported(label, `bias C dims [${cd}] (need [${nOut}] or [1, ${nOut}])`);
          ps.push(param(ins[2], cT, [nOut], { kind: 'linear', fanIn }));
        }
        emit({ op: 'Gemm', inputs: [x], outputs: [outs[0]], params: ps, attrs: { transB } }, n.name ?? '');
        break;
      }
      case 'MatMul': {
        const x = act(0);
        if (!constants.has(ins[1])) throw unsupported(label, `the second input '${ins[1]}' is not a constant weight (only MatMul by a constant is supported)`);
        const wT = cst(1, 'the weight');
        const w = dimsOf(wT);
        if (w.length !== 2) throw unsupported(label, `weight dims [${w}] (2-D expected)`);
        const wName = param(ins[1], wT, w, { kind: 'linear', fanIn: w[0] });
        // MatMul + Add(constant bias) on a 2-D input -> one Gemm (PyTorch's Linear as some exporters write it)
        const readers = idx.consumers.get(outs[0]) ?? [];
        if (readers.length === 1 && !idx.graphOutputs.has(outs[0]) && shapes.get(x)!.length === 1) {
          const add = nodes[readers[0]];
          const other = add.opType === 'Add' && (add.input ?? []).length === 2 ? (add.input![0] === outs[0] ? add.input![1] : add.input![0]) : undefined;
          const bT = other !== undefined ? constants.get(other) : undefined;
          if (bT && (add.domain ?? '') === '' && dimsOf(bT).reduce((a, b) => a * b, 1) === w[1] && dimsOf(bT).length <= 2 && (dimsOf(bT).length < 2 || dimsOf(bT)[0] === 1)) {
            const bName = param(other!, bT, [w[1]], { kind: 'linear', fanIn: w[0] });
            emit({ op: 'Gemm', inputs: [x], outputs: [add.output![0]], params: [wName, bName], attrs: { transB: 0 } }, add.name ? `${n.name || 'MatMul'}+${add.name}` : n.name ?? '');
            skipGraphReaders.add(readers[0]);
            break;
          }
        }
        emit({ op: 'MatMul', inputs: [x], outputs: [outs[0]], params: [wName], attrs: {} }, n.name ?? '');
        break;
      }
      case 'Shape': {
        const x = act(0);
        const full: (number | 'N')[] = ['N', ...shapes.get(x)!];
        const rank = full.length;
        const clampAxis = (a: number) => Math.min(rank, Math.max(0, a < 0 ? a + rank : a));
        shapeExpr.set(outs[0], full.slice(clampAxis(attrInt(n, 'start', 0)), clampAxis(attrInt(n, 'end', rank))));
        break;
      }
      case 'Gather': {
        const data = shapeExpr.get(ins[0]);
        const idxT = ins[1] ? constants.get(ins[1]) : undefined;
        if (!data || !idxT || attrInt(n, 'axis', 0) !== 0) throw unsupported(label, 'Gather is supported only as shape arithmetic (indices into a Shape)');
        const picks = intData(idxT, `${label}: indices`).map((k) => data[k < 0 ? k + data.length : k]);
        if (picks.some((v) => v === undefined)) throw unsupported(label, 'indices out of range of the shape');
        shapeExpr.set(outs[0], picks);
        break;
      }
      case 'Unsqueeze':
      case 'Cast': {
        const v = intsOf(ins[0]);
        if (!v || !shapeExpr.has(ins[0])) throw unsupported(label, `${op} is supported only as shape arithmetic (on a Shape's values)`);
        if (op === 'Cast' && ![DataType.INT64, DataType.INT32].includes(attrInt(n, 'to', 0))) throw unsupported(label, 'a Cast of shape values to a non-integer type');
        shapeExpr.set(outs[0], v);
        break;
      }
      case 'Concat': {
        const parts = ins.map((t) => intsOf(t));
        if (!parts.every(Boolean) || !ins.some((t) => shapeExpr.has(t)) || attrInt(n, 'axis', 0) !== 0)
          throw unsupported(label, 'Concat is supported only as shape arithmetic (joining a Shape\'s values with constants); concatenating activations is not');
        shapeExpr.set(outs[0], parts.flatMap((p) => p!));
        break;
      }
      case 'ReduceMean': {
        const x = act(0);
        const rank = shapes.get(x)!.length + 1;
        const axes = (attrInts(n, 'axes') ?? (ins[1] ? intData(cst(1, 'the axes'), `${label}: axes`) : undefined))?.map((a) => (a < 0 ? a + rank : a)).sort();
        if (rank !== 4 || !axes || axes.length !== 2 || axes[0] !== 2 || axes[1] !== 3)
          throw unsupported(label, `ReduceMean is supported over the spatial axes (2, 3) of an (N, C, H, W) map only (axes [${axes ?? 'all'}], rank ${rank})`);
        if (attrInt(n, 'keepdims', 1)) {
          emit({ op: 'GlobalAveragePool', inputs: [x], outputs: [outs[0]], attrs: {} }, n.name ?? '');
        } else {
          const pooled = uniqueTensor(`${outs[0]}_pooled`);
          emit({ op: 'GlobalAveragePool', inputs: [x], outputs: [pooled], attrs: {} }, n.name ?? '');
          emit({ op: 'Flatten', inputs: [pooled], outputs: [outs[0]], attrs: { axis: 1 } }, `${n.name || 'ReduceMean'}/flatten`);
        }
        break;
      }
      case 'ReduceL2': {
        const x = act(0);
        const rank = shapes.get(x)!.length + 1;
        const axes = (attrInts(n, 'axes') ?? (ins[1] ? intData(cst(1, 'the axes'), `${label}: axes`) : undefined))?.map((a) => (a < 0 ? a + rank : a));
        if (rank !== 2 || !axes || axes.length !== 1 || axes[0] !== 1 || attrInt(n, 'keepdims', 1) !== 1)
          throw unsupported(label, 'ReduceL2 is supported only as F.normalize(x, dim=1) of an (N, D) tensor (axes [1], keepdims)');
        pendingNorm.set(outs[0], { x });
        break;
      }
      case 'Clip': {
        const p = pendingNorm.get(ins[0]);
        if (!p) {
          // an activation (ReLU6: 0, 6): constant bounds, as inputs (opset >= 11) or attributes
          const bound = (k: number, key: 'min' | 'max'): number | undefined => {
            if (ins[k]) return floatData(cst(k, `the ${key}imum`), `${label}: ${key}`)[0];
            const v = attrFloat(n, key, NaN);
            return Number.isNaN(v) ? undefined : v;
          };
          const attrs: Record<string, number> = {};
          const lo = bound(1, 'min'), hi = bound(2, 'max');
          if (lo !== undefined) attrs.min = lo;
          if (hi !== undefined) attrs.max = hi;
          emit({ op: 'Clip', inputs: [act(0)], outputs: [outs[0]], attrs }, n.name ?? '');
          break;
        }
        const min = ins[1] ? floatData(cst(1, 'the minimum'), `${label}: min`)[0] : attrFloat(n, 'min', -Infinity);
        if (ins[2] || attrFloat(n, 'max', Infinity) !== Infinity) throw unsupported(label, 'a Clip with a maximum inside F.normalize');
        pendingNorm.set(outs[0], { x: p.x, eps: min });
        break;
      }
      case 'Expand': {
        const p = pendingNorm.get(ins[0]);
        if (!p) throw unsupported(label, 'Expand is supported only inside F.normalize');
        pendingNorm.set(outs[0], p);
        break;
      }
      case 'Div': {
        const p = pendingNorm.get(ins[1]);
        const x = ins[0] && !constants.has(ins[0]) ? resolve(ins[0]) : undefined;
        if (!p || x !== p.x) throw unsupported(label, 'Div is supported only as F.normalize(x, dim=1) (x divided by its own clamped L2 norm)');
        // the engine's L2Norm clamps the norm at 1e-12, F.normalize's default eps
        if (p.eps !== undefined && Math.abs(p.eps - 1e-12) > 1e-15) throw unsupported(label, `F.normalize with eps ${p.eps} (the engine's L2Norm uses 1e-12)`);
        emit({ op: 'L2Norm', inputs: [x], outputs: [outs[0]], attrs: {} }, n.name ?? '');
        break;
      }
      case 'Sigmoid': {
        const x = act(0);
        const readers = idx.consumers.get(outs[0]) ?? [];
        const mul = readers.length === 1 && !idx.graphOutputs.has(outs[0]) ? nodes[readers[0]] : undefined;
        const other = mul?.opType === 'Mul' && (mul.input ?? []).length === 2 ? (mul.input![0] === outs[0] ? mul.input![1] : mul.input![0]) : undefined;
        if (!other || resolve(other) !== x) throw unsupported(label, 'Sigmoid is supported only as SiLU: x * sigmoid(x) (its one reader a Mul by the same x)');
        pendingSigmoid.set(outs[0], x);
        break;
      }
      case 'Mul': {
        const s = pendingSigmoid.has(ins[0]) ? ins[0] : pendingSigmoid.has(ins[1]) ? ins[1] : undefined;
        if (!s) throw unsupported(label, 'Mul is supported only as SiLU: x * sigmoid(x)');
        emit({ op: 'Silu', inputs: [pendingSigmoid.get(s)!], outputs: [outs[0]], attrs: {} }, n.name ?? '');
        break;
      }
      case 'LeakyRelu':
        emit({ op: 'LeakyRelu', inputs: [act(0)], outputs: [outs[0]], attrs: { alpha: attrFloat(n, 'alpha', 0.01) } }, n.name ?? '');
        break;
      default:
        throw unsupported(label, `op type ${op || '(empty)'} is not supported`);
    }
  }

  // graph outputs: keep the teacher's names (a skipped Identity / Dropout before an output renames its source)
  const outputs: string[] = [];
  for (const v of g.output ?? []) {
    const o = v.name ?? '';
    const r = resolve(o);
    if (!shapes.has(r) || constants.has(o)) throw new MimicError('E_ONNX', `${source}: graph output '${o}' is not computed by a supported node`);
    if (r !== o) {
      if (inputs.some((i) => i.name === r) || idx.graphOutputs.has(r)) throw new MimicError('E_ONNX', `${source}: graph output '${o}' is a copy of '${r}' (a graph input or another output), which is not supported`);
      for (const l of layers) {
        l.inputs = l.inputs.map((t) => (t === r ? o : t));
        l.outputs = l.outputs.map((t) => (t === r ? o : t));
      }
      shapes.set(o, shapes.get(r)!);
      for (const [k, v2] of alias) if (v2 === r) alias.set(k, o);
    }
    outputs.push(o);
  }

  // values
  const draw = (list: typeof params, offset: number): TensorSpec[] =>
    list.map((t, i) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const s = paramSeed(seed, offset + i);
      let data: Float32Array;
      switch (t.init.kind) {
        case 'value': data = t.init.data; break;
        case 'conv': data = kaimingNormalFanOut(t.shape, s); break;
        case 'linear': data = linearDefault(n, t.init.fanIn, s); break;
        case 'one': data = constant(n, 1); break;
        case 'zero': data = constant(n, 0); break;
      }
      return { name: t.name, shape: t.shape, data };
    });
  return {
    inputs,
    outputs,
    layers,
    params: draw(params, 0),
    buffers: draw(buffers, params.length),
    io,
    unfolded: unfoldedConvs,
  };
}

function intOrBool(t: TensorProto): number {
  if (t.dataType === DataType.BOOL || t.dataType === DataType.INT32 || t.dataType === DataType.UINT8) {
    const raw = t.rawData && t.rawData.length ? t.rawData : undefined;
    if (raw) return raw[0] ?? 0;
    return t.int32Data?.[0] ?? 0;
  }
  if (t.dataType === DataType.INT64) return toNum((t.int64Data?.[0] ?? 0) as number);
  return 1;
}

