/**
 * NetworkSpec -> ONNX (the exported student): a ModelProto onnxruntime-node loads, with the spec's (or the
 * teacher's) input and output names, a dynamic batch axis, and BatchNorm kept (eval-mode BatchNormalization
 * with the running statistics) or folded into the preceding Conv. Also the per-sample shape inference of a
 * spec, shared with the reader (from-onnx.ts).
 */
import { MimicError } from '../errors.ts';
import { floatTensor, int64Tensor, valueInfo } from '../onnx/build.ts';
import { encodeModel, saveModel, type Dim } from '../onnx/model.ts';
import { onnx, type ModelProto, type OnnxTypes } from '../onnx/proto.ts';
import type { LayerSpec, NetworkSpec, TensorSpec } from './spec.ts';

// ---- shapes ----

const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);
const ints = (v: number | number[] | undefined, n: number, dflt: number): number[] =>
  v === undefined ? new Array(n).fill(dflt) : Array.isArray(v) ? v : new Array(n).fill(v);

function shapeError(layer: LayerSpec, why: string): MimicError {
  return new MimicError('E_SHAPE_MISMATCH', `layer '${layer.name}' (${layer.op}): ${why}`);
}

/** Output size of a sliding window along one axis (ONNX / PyTorch rule, ceil_mode included). */
function windowOut(size: number, k: number, s: number, padBegin: number, padEnd: number, d: number, ceil: boolean): number {
  const span = size + padBegin + padEnd - (d * (k - 1) + 1);
  if (span < 0) return 0;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch / ONNX: the last window must start inside the input or the left padding
  if (ceil && (out - 1) * s >= size + padBegin) out -= 1;
  return out;
}

/**
 * The per-sample output shape of one layer (no batch dim) from its inputs' per-sample shapes and its params'
 * dims. Throws E_SHAPE_MISMATCH naming the layer when they do not fit together.
 */
export function layerOutputShape(layer: LayerSpec, inShapes: number[][], paramDims: (name: string) => number[]): number[] {
  const a = layer.attrs;
  const x = inShapes[0];
  switch (layer.op) {
    case 'Conv': {
      const w = paramDims(layer.params![0]);
      const sp = w.length - 2;
      if (x.length !== w.length - 1) throw shapeError(layer, `input [${x}] does not fit weight [${w}]`);
      const group = (a.group as number | undefined) ?? 1;
      if (x[0] !== w[1] * group) throw shapeError(layer, `input has ${x[0]} channels, the weight [${w}] with group ${group} expects ${w[1] * group}`);
      if (w[0] % group !== 0) throw shapeError(layer, `${w[0]} output channels are not divisible by group ${group}`);
      if (layer.params!.length > 1) {
        const b = paramDims(layer.params![1]);
        if (prod(b) !== w[0] || b.length !== 1) throw shapeError(layer, `bias [${b}] does not match ${w[0]} output channels`);
      }
      const st = ints(a.strides, sp, 1), dl = ints(a.dilations, sp, 1), pd = ints(a.pads, 2 * sp, 0);
      const out = [w[0]];
      for (let i = 0; i < sp; ++i) out.push(windowOut(x[i + 1], w[i + 2], st[i], pd[i], pd[i + sp], dl[i], false));
      if (out.some((v) => v <= 0)) throw shapeError(layer, `input [${x}] is too small for the kernel (output [${out}])`);
      return out;
    }
    case 'BatchNormalization': {
      const c = x[0];
      for (const p of [...(layer.params ?? []), ...(layer.buffers ?? [])]) {
        const d = paramDims(p);
        if (prod(d) !== c) throw shapeError(layer, `'${p}' has ${prod(d)} values for ${c} channels`);
      }
      return x;
    }
    case 'Relu':
    case 'L2Norm':
    case 'Clip':
    case 'LeakyRelu':
    case 'Silu':
      return x;
    case 'Add': {
      const y = inShapes[1];
      if (x.length !== y.length || x.some((v, i) => v !== y[i])) throw shapeError(layer, `inputs of shapes [${x}] and [${y}] (equal shapes required)`);
      return x;
    }
    case 'MaxPool':
    case 'AveragePool': {
      const k = a.kernel_shape as number[];
      const sp = x.length - 1;
      if (!k || k.length !== sp) throw shapeError(layer, `kernel_shape [${k}] does not fit input [${x}]`);
      const st = ints(a.strides, sp, 1), pd = ints(a.pads, 2 * sp, 0), dl = ints(a.dilations, sp, 1);
      const ceil = ((a.ceil_mode as number | undefined) ?? 0) !== 0;
      const out = [x[0]];
      for (let i = 0; i < sp; ++i) out.push(windowOut(x[i + 1], k[i], st[i], pd[i], pd[i + sp], dl[i], ceil));
      if (out.some((v) => v <= 0)) throw shapeError(layer, `input [${x}] is too small for the window (output [${out}])`);
      return out;
    }
    case 'GlobalAveragePool':
      if (x.length < 2) throw shapeError(layer, `needs a spatial input, got [${x}]`);
      return [x[0], ...x.slice(1).map(() => 1)];
    case 'Flatten': {
      const axis = (a.axis as number | undefined) ?? 1;
      if (axis !== 1) throw shapeError(layer, `axis ${axis}: only axis 1 (keep the batch dim) is supported`);
      return [prod(x)];
    }
    case 'Reshape':
      return reshapeShape(x, a.shape as number[], (why) => shapeError(layer, why));
    case 'Gemm': {
      const w = paramDims(layer.params![0]);
      const transB = ((a.transB as number | undefined) ?? 0) !== 0;
      if (x.length !== 1 || w.length !== 2) throw shapeError(layer, `Gemm needs a 2-D input and weight, got input [N, ${x}] and weight [${w}]`);
      const [k, n] = transB ? [w[1], w[0]] : [w[0], w[1]];
      if (x[0] !== k) throw shapeError(layer, `input has ${x[0]} features, the weight [${w}] (transB ${transB ? 1 : 0}) expects ${k}`);
      if (layer.params!.length > 1 && prod(paramDims(layer.params![1])) !== n) throw shapeError(layer, `bias does not have ${n} values`);
      return [n];
    }
    case 'MatMul': {
      const w = paramDims(layer.params![0]);
      if (w.length !== 2 || x.length < 1 || x[x.length - 1] !== w[0]) throw shapeError(layer, `input [N, ${x}] does not fit weight [${w}]`);
      return [...x.slice(0, -1), w[1]];
    }
  }
  throw shapeError(layer, 'unknown op');
}

/**
 * Per-sample result of an ONNX Reshape with a constant `shape` on a batched tensor [B, ...x], for any B:
 * shape[0] must be 0 (copy the batch) or -1 (infer it: every other entry then explicit, their product the
 * per-sample size). Returns the per-sample output shape.
 */
export function reshapeShape(x: number[], shape: number[], err: (why: string) => Error): number[] {
  if (!shape || shape.length < 1) throw err('the target shape is empty');
  const n = prod(x);
  const rest = shape.slice(1).map((v, i) => {
    if (v === 0) {
      if (i >= x.length) throw err(`shape [${shape}]: 0 at position ${i + 1} copies a dim the input [N, ${x}] does not have`);
      return x[i];
    }
    return v;
  });
  if (shape[0] === -1) {
    if (rest.some((v) => v < 0)) throw err(`shape [${shape}] infers the batch dim and another one`);
    if (prod(rest) !== n) throw err(`shape [${shape}] changes the batch dim (per-sample size ${n}, target row ${prod(rest)})`);
    return rest;
  }
  if (shape[0] !== 0) throw err(`shape [${shape}] fixes the batch dim (use 0 or -1 first)`);
  const neg = rest.filter((v) => v === -1).length;
  if (neg > 1 || rest.some((v) => v < -1)) throw err(`shape [${shape}] is invalid`);
  if (neg === 1) {
    const known = prod(rest.filter((v) => v !== -1));
    if (known === 0 || n % known !== 0) throw err(`shape [${shape}] does not divide the per-sample size ${n}`);
    return rest.map((v) => (v === -1 ? n / known : v));
  }
  if (prod(rest) !== n) throw err(`shape [${shape}] has ${prod(rest)} elements per sample, the input [${x}] ${n}`);
  return rest;
}

/** Per-sample shapes of every activation tensor of a spec (graph inputs and layer outputs). */
export function specShapes(spec: NetworkSpec): Map<string, number[]> {
  const dims = new Map<string, number[]>();
  for (const t of [...spec.params, ...spec.buffers]) dims.set(t.name, t.shape);
  const paramDims = (name: string) => {
    const d = dims.get(name);
    if (!d) throw new MimicError('E_INVALID_ARGUMENT', `the spec names tensor '${name}', which is not in params or buffers`);
    return d;
  };
  const shapes = new Map<string, number[]>();
  for (const i of spec.inputs) shapes.set(i.name, i.shape);
  for (const l of spec.layers) {
    const ins = l.inputs.map((t) => {
      const s = shapes.get(t);
      if (!s) throw new MimicError('E_INVALID_ARGUMENT', `layer '${l.name}' (${l.op}) reads '${t}', which no earlier layer or graph input provides`);
      return s;
    });
    shapes.set(l.outputs[0], layerOutputShape(l, ins, paramDims));
  }
  for (const o of spec.outputs) if (!shapes.has(o)) throw new MimicError('E_INVALID_ARGUMENT', `the spec's output '${o}' is not produced by any layer`);
  return shapes;
}

// ---- export ----

/** Values by tensor name: a Map or a plain object. */
export type TensorValues = Map<string, Float32Array> | Record<string, Float32Array>;

/** What the teacher declared (specFromOnnx records it): full shapes, batch dim included. */
export interface OnnxIo {
  inputs: { name: string; shape: Dim[] | null }[];
  outputs: { name: string; shape: Dim[] | null }[];
  /** the teacher's batch dim name ('N' when it had none) */
  batchDim: string;
}

export interface ToOnnxOptions {
  /** parameter values (e.g. trained weights from the engine); default: each TensorSpec's data */
  params?: TensorValues;
  /** buffer values (BN running mean / var); default: each TensorSpec's data, else zeros */
  buffers?: TensorValues;
  /** fold BatchNormalization into the preceding Conv where possible (default false: keep BN nodes) */
  foldBatchNorm?: boolean;
  /** default-domain opset, 13..21 (default 13) */
  opset?: number;
  /** rename the (single) graph input / output (default: the spec's names, i.e. the teacher's) */
  inputName?: string;
  outputName?: string;
  /** symbolic batch axis (default true); false needs batchSize */
  dynamicBatch?: boolean;
  batchSize?: number;
  /** the batch dim's name (default: the teacher's, from spec.io, else 'N') */
  batchDim?: string;
  graphName?: string;
  producerName?: string;
}

function lookup(values: TensorValues | undefined, name: string): Float32Array | undefined {
  if (!values) return undefined;
  return values instanceof Map ? values.get(name) : Object.prototype.hasOwnProperty.call(values, name) ? values[name] : undefined;
}

const AT = onnx.AttributeProto.AttributeType;
function intsAttr(name: string, v: number[]): OnnxTypes.IAttributeProto {
  return { name, type: AT.INTS, ints: v };
}
function intAttr(name: string, v: number): OnnxTypes.IAttributeProto {
  return { name, type: AT.INT, i: v };
}
function floatAttr(name: string, v: number): OnnxTypes.IAttributeProto {
  return { name, type: AT.FLOAT, f: v };
}

function irVersionFor(opset: number): number {
  return opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

/**
 * Exports a spec as an ONNX model (onnxruntime-node loads it; eval-mode semantics). BN folding: a
 * BatchNormalization whose input is the output of a Conv read by nothing else (and not a graph output), with
 * weight / bias used by no other layer, becomes part of the Conv: w' = w * g, b' = (b - mean) * g + beta with
 * g = gamma / sqrt(var + eps) (computed in float64); any other BN stays a BatchNormalization node. L2Norm
 * becomes ReduceL2 (over every non-batch axis, keepdims) -> Max(., 1e-12) -> Div.
 */
export function onnxFromSpec(spec: NetworkSpec & { io?: OnnxIo }, options: ToOnnxOptions = {}): ModelProto {
  const opset = options.opset ?? 13;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21) throw new MimicError('E_INVALID_ARGUMENT', `onnxFromSpec: opset ${opset} is not supported (13..21)`);
  const dynamic = options.dynamicBatch ?? true;
  if (!dynamic && !(Number.isInteger(options.batchSize) && options.batchSize! >= 1)) {
    throw new MimicError('E_INVALID_ARGUMENT', 'onnxFromSpec: dynamicBatch false needs a positive integer batchSize');
  }
  const batch: Dim = dynamic ? (options.batchDim ?? spec.io?.batchDim ?? 'N') : options.batchSize!;
  const shapes = specShapes(spec);

  // tensor values
  const tensors = new Map<string, { spec: TensorSpec; data: Float32Array }>();
  const take = (t: TensorSpec, values: TensorValues | undefined, kind: 'param' | 'buffer') => {
    const n = prod(t.shape);
    let data = lookup(values, t.name) ?? t.data;
    if (!data) {
      if (kind === 'param') throw new MimicError('E_INVALID_ARGUMENT', `onnxFromSpec: parameter '${t.name}' has no values (pass params or give the spec data)`);
      data = new Float32Array(n);
    }
    if (!(data instanceof Float32Array)) throw new MimicError('E_DTYPE', `onnxFromSpec: ${kind} '${t.name}' must be a Float32Array`);
    if (data.length !== n) throw new MimicError('E_SHAPE_MISMATCH', `onnxFromSpec: ${kind} '${t.name}' has ${data.length} values for shape [${t.shape}] (${n})`);
    tensors.set(t.name, { spec: t, data });
  };
  for (const t of spec.params) take(t, options.params, 'param');
  for (const t of spec.buffers) take(t, options.buffers, 'buffer');
  const tensor = (name: string) => tensors.get(name)!;

  // renames of the graph input / output
  const rename = new Map<string, string>();
  if (options.inputName !== undefined) {
    if (spec.inputs.length !== 1) throw new MimicError('E_INVALID_ARGUMENT', `onnxFromSpec: inputName needs a single-input spec (it has ${spec.inputs.length})`);
    rename.set(spec.inputs[0].name, options.inputName);
  }
  if (options.outputName !== undefined) {
    if (spec.outputs.length !== 1) throw new MimicError('E_INVALID_ARGUMENT', `onnxFromSpec: outputName needs a single-output spec (it has ${spec.outputs.length})`);
    if (spec.inputs.some((i) => i.name === spec.outputs[0])) throw new MimicError('E_INVALID_ARGUMENT', 'onnxFromSpec: the output is a graph input');
    rename.set(spec.outputs[0], options.outputName);
  }
  const nm = (t: string) => rename.get(t) ?? t;

  // use counts
  const readers = new Map<string, number>();
  const paramUses = new Map<string, number>();
  for (const l of spec.layers) {
    for (const i of l.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
    for (const p of [...(l.params ?? []), ...(l.buffers ?? [])]) paramUses.set(p, (paramUses.get(p) ?? 0) + 1);
  }
  const graphOutputs = new Set(spec.outputs);
  const producer = new Map<string, LayerSpec>();
  for (const l of spec.layers) producer.set(l.outputs[0], l);

  const used = new Set<string>([...spec.inputs.map((i) => i.name), ...spec.layers.flatMap((l) => [l.outputs[0], l.name]), ...tensors.keys(), ...rename.values()]);
  const unique = (base: string) => {
    let n = base;
    for (let k = 1; used.has(n); ++k) n = `${base}_${k}`;
    used.add(n);
    return n;
  };

  // decide the folds: conv layer -> the BN folded into it
  const foldedInto = new Map<LayerSpec, LayerSpec>();
  const folded = new Set<LayerSpec>();
  if (options.foldBatchNorm) {
    for (const bn of spec.layers) {
      if (bn.op !== 'BatchNormalization') continue;
      const t = bn.inputs[0];
      const conv = producer.get(t);
      if (!conv || conv.op !== 'Conv' || readers.get(t) !== 1 || graphOutputs.has(t)) continue;
      if ((conv.params ?? []).some((p) => paramUses.get(p) !== 1)) continue;
      foldedInto.set(conv, bn);
      folded.add(bn);
    }
  }

  const initializers: OnnxTypes.ITensorProto[] = [];
  const emitted = new Set<string>();
  const init = (name: string, data: Float32Array, dims: number[]) => {
    if (emitted.has(name)) return name;
    emitted.add(name);
    initializers.push(floatTensor(name, data, dims));
    return name;
  };
  const initOf = (name: string) => {
    const t = tensor(name);
    return init(name, t.data, t.spec.shape);
  };

  const nodes: OnnxTypes.INodeProto[] = [];
  const node = (opType: string, name: string, input: string[], output: string[], attribute: OnnxTypes.IAttributeProto[] = []) =>
    nodes.push({ name, opType, domain: '', input, output, attribute });

  for (const l of spec.layers) {
    if (folded.has(l)) continue;
    const a = l.attrs;
    const ins = l.inputs.map(nm);
    let out = nm(l.outputs[0]);
    switch (l.op) {
      case 'Conv': {
        const w = tensor(l.params![0]);
        const sp = w.spec.shape.length - 2;
        const attrs = [
          intsAttr('kernel_shape', w.spec.shape.slice(2)),
          intsAttr('strides', ints(a.strides, sp, 1)),
          intsAttr('pads', ints(a.pads, 2 * sp, 0)),
          intsAttr('dilations', ints(a.dilations, sp, 1)),
          intAttr('group', (a.group as number | undefined) ?? 1),
        ];
        const bn = foldedInto.get(l);
        if (!bn) {
          node('Conv', l.name, [...ins, ...(l.params ?? []).map(initOf)], [out], attrs);
          break;
        }
        // fold bn into this conv
        const oc = w.spec.shape[0];
        const per = w.data.length / oc;
        const gamma = tensor(bn.params![0]).data, beta = tensor(bn.params![1]).data;
        const mean = tensor(bn.buffers![0]).data, vr = tensor(bn.buffers![1]).data;
        const eps = (bn.attrs.epsilon as number | undefined) ?? 1e-5;
        const b0 = l.params!.length > 1 ? tensor(l.params![1]).data : undefined;
        const w2 = new Float32Array(w.data.length);
        const b2 = new Float32Array(oc);
        for (let o = 0; o < oc; ++o) {
          const g = gamma[o] / Math.sqrt(vr[o] + eps);
          for (let j = 0; j < per; ++j) w2[o * per + j] = w.data[o * per + j] * g;
          b2[o] = ((b0 ? b0[o] : 0) - mean[o]) * g + beta[o];
        }
        out = nm(bn.outputs[0]);
        const wName = init(l.params![0], w2, w.spec.shape);
        const bName = init(l.params!.length > 1 ? l.params![1] : unique(`${l.params![0]}_folded_bias`), b2, [oc]);
        node('Conv', l.name, [...ins, wName, bName], [out], attrs);
        break;
      }
      case 'BatchNormalization': {
        const m = (a.momentum as number | undefined) ?? 0.1;
        node('BatchNormalization', l.name, [...ins, ...l.params!.map(initOf), ...l.buffers!.map(initOf)], [out], [
          floatAttr('epsilon', (a.epsilon as number | undefined) ?? 1e-5),
          floatAttr('momentum', 1 - m), // ONNX convention: running = momentum * running + (1 - momentum) * stat
        ]);
        break;
      }
      case 'Relu':
      case 'Add':
      case 'GlobalAveragePool':
        node(l.op, l.name, ins, [out]);
        break;
      case 'Clip': {
        // opset >= 11: the bounds are (scalar) inputs
        const bound = (key: 'min' | 'max') => {
          const v = a[key] as number | undefined;
          if (v === undefined) return '';
          const name = unique(`${l.name}/${key}`);
          init(name, Float32Array.of(v), []);
          return name;
        };
        const lo = bound('min'), hi = bound('max');
        node('Clip', l.name, hi ? [ins[0], lo, hi] : lo ? [ins[0], lo] : [ins[0]], [out]);
        break;
      }
      case 'LeakyRelu':
        node('LeakyRelu', l.name, ins, [out], [floatAttr('alpha', (a.alpha as number | undefined) ?? 0.01)]);
        break;
      case 'Silu': {
        // as torch exports nn.SiLU: x * Sigmoid(x)
        const s = unique(`${l.name}/sigmoid`);
        node('Sigmoid', unique(`${l.name}/Sigmoid`), ins, [s]);
        node('Mul', l.name, [ins[0], s], [out]);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const k = a.kernel_shape as number[];
        const sp = k.length;
        const attrs = [intsAttr('kernel_shape', k), intsAttr('strides', ints(a.strides, sp, 1)), intsAttr('pads', ints(a.pads, 2 * sp, 0)), intAttr('ceil_mode', (a.ceil_mode as number | undefined) ?? 0)];
        if (l.op === 'AveragePool') attrs.push(intAttr('count_include_pad', (a.count_include_pad as number | undefined) ?? 0));
        else if (a.dilations !== undefined && (a.dilations as number[]).some((d) => d !== 1)) attrs.push(intsAttr('dilations', a.dilations as number[]));
        node(l.op, l.name, ins, [out], attrs);
        break;
      }
      case 'Flatten':
        node('Flatten', l.name, ins, [out], [intAttr('axis', (a.axis as number | undefined) ?? 1)]);
        break;
      case 'Reshape': {
        const s = unique(`${l.name}_shape`);
        initializers.push(int64Tensor(s, a.shape as number[]));
        node('Reshape', l.name, [...ins, s], [out]);
        break;
      }
      case 'Gemm':
        node('Gemm', l.name, [...ins, ...l.params!.map(initOf)], [out], [floatAttr('alpha', 1), floatAttr('beta', 1), intAttr('transA', 0), intAttr('transB', (a.transB as number | undefined) ?? 0)]);
        break;
      case 'MatMul':
        node('MatMul', l.name, [...ins, initOf(l.params![0])], [out]);
        break;
      case 'L2Norm': {
        const rank = shapes.get(l.inputs[0])!.length;
        const axes = Array.from({ length: rank }, (_, i) => i + 1);
        const norm = unique(`${l.name}/norm`), clamped = unique(`${l.name}/norm_clamped`), eps = unique(`${l.name}/eps`);
        if (opset >= 18) {
          const ax = unique(`${l.name}/axes`);
          initializers.push(int64Tensor(ax, axes));
          node('ReduceL2', unique(`${l.name}/ReduceL2`), [ins[0], ax], [norm], [intAttr('keepdims', 1)]);
        } else {
          node('ReduceL2', unique(`${l.name}/ReduceL2`), [ins[0]], [norm], [intsAttr('axes', axes), intAttr('keepdims', 1)]);
        }
        init(eps, Float32Array.of(1e-12), []);
        node('Max', unique(`${l.name}/Max`), [norm, eps], [clamped]);
        node('Div', l.name, [ins[0], clamped], [out]);
        break;
      }
      default:
        throw new MimicError('E_ONNX', `onnxFromSpec: layer '${(l as LayerSpec).name}' has an unknown op '${(l as LayerSpec).op}'`);
    }
  }

  const declared = (list: OnnxIo['inputs'] | undefined, name: string) => list?.find((v) => v.name === name)?.shape ?? null;
  const fullShape = (name: string, declaredShape: Dim[] | null): Dim[] => {
    const per = shapes.get(name)!;
    // keep the teacher's declared dims where they agree with the spec (its symbolic names, for instance)
    if (dynamic && declaredShape && declaredShape.length === per.length + 1 && per.every((d, i) => declaredShape[i + 1] === d || typeof declaredShape[i + 1] !== 'number')) {
      // a symbolic per-sample dim stays symbolic (a teacher whose H and W are free: the student takes any size too)
      return [typeof declaredShape[0] === 'string' ? declaredShape[0] : batch, ...per.map((d, i) => (typeof declaredShape[i + 1] === 'string' ? declaredShape[i + 1] : d))];
    }
    return [batch, ...per];
  };
  const model = onnx.ModelProto.create({
    irVersion: irVersionFor(opset),
    producerName: options.producerName ?? 'mimic-engine',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: opset }],
    graph: onnx.GraphProto.create({
      name: options.graphName ?? 'student',
      input: spec.inputs.map((i) => onnx.ValueInfoProto.create(valueInfo(nm(i.name), fullShape(i.name, declared(spec.io?.inputs, i.name))))),
      output: spec.outputs.map((o) => onnx.ValueInfoProto.create(valueInfo(nm(o), fullShape(o, declared(spec.io?.outputs, o))))),
      initializer: initializers.map((t) => onnx.TensorProto.create(t)),
      node: nodes.map((n) => onnx.NodeProto.create(n)),
    }),
  });
  // a decoded copy: the same shape as a loaded model (Longs, defaults)
  return onnx.ModelProto.decode(encodeModel(model));
}

/** onnxFromSpec, encoded. */
export function onnxBytesFromSpec(spec: NetworkSpec & { io?: OnnxIo }, options: ToOnnxOptions = {}): Uint8Array {
  return encodeModel(onnxFromSpec(spec, options));
}

/** onnxFromSpec, written atomically (temporary file + rename) to `file`; returns the model. */
export async function saveSpecAsOnnx(spec: NetworkSpec & { io?: OnnxIo }, file: string, options: ToOnnxOptions = {}): Promise<ModelProto> {
  const model = onnxFromSpec(spec, options);
  await saveModel(model, file);
  return model;
}
