/**
 * A small builder for ONNX models in TypeScript (tests, examples, users' toy encoders). Produces ModelProtos
 * (IR 8, default-domain opset 13 unless asked otherwise) that onnxruntime-node runs.
 *
 *   const b = new ModelBuilder({ seed: 1 });
 *   const x = b.input('x', ['N', 3, 16, 16]);
 *   const y = b.relu(b.conv(x, { inChannels: 3, outChannels: 8 }));
 *   b.output(b.flatten(b.globalAveragePool(y)), ['N', 8]);
 *   const bytes = b.bytes();
 */
import { MimicError } from '../errors.ts';
import { gaussian } from '../util/rng.ts';
import { encodeModel } from './model.ts';
import { onnx, type ModelProto, type OnnxTypes } from './proto.ts';

export type ElemType = 'FLOAT' | 'DOUBLE' | 'INT64' | 'INT32' | 'INT8' | 'UINT8' | 'BOOL' | 'FLOAT16';
import type { Dim } from './model.ts';

/**
 * Attribute values: an integer number -> INT, a non-integer number -> FLOAT, number[] -> INTS (all integers)
 * or FLOATS, string -> STRING; `{ float }` / `{ floats }` / `{ ints }` force the type; `{ tensor }` -> TENSOR.
 */
export type AttrValue =
  | number
  | number[]
  | string
  | { float: number }
  | { floats: number[] }
  | { ints: number[] }
  | { tensor: OnnxTypes.ITensorProto };

const AT = onnx.AttributeProto.AttributeType;

function attribute(name: string, v: AttrValue): OnnxTypes.IAttributeProto {
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: AT.INT, i: v } : { name, type: AT.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return v.every(Number.isInteger) ? { name, type: AT.INTS, ints: v } : { name, type: AT.FLOATS, floats: v };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AT.FLOATS, floats: v.floats };
  if ('ints' in v) return { name, type: AT.INTS, ints: v.ints };
  return { name, type: AT.TENSOR, t: v.tensor };
}

function typeCode(t: ElemType): number {
  return onnx.TensorProto.DataType[t];
}

/** A value info (graph input / output) with an optional shape; dims may be names (symbolic) or -1 (unknown). */
export function valueInfo(name: string, shape?: Dim[] | null, elemType: ElemType = 'FLOAT'): OnnxTypes.IValueInfoProto {
  const tensorType: OnnxTypes.TypeProto.ITensor = { elemType: typeCode(elemType) };
  if (shape) {
    tensorType.shape = {
      dim: shape.map((d) => (typeof d === 'string' ? { dimParam: d } : d < 0 ? {} : { dimValue: d })),
    };
  }
  return { name, type: { tensorType } };
}

/** A FLOAT tensor proto (raw little-endian data). */
export function floatTensor(name: string, data: Float32Array | number[], dims: number[]): OnnxTypes.ITensorProto {
  const f = data instanceof Float32Array ? data : Float32Array.from(data);
  const n = dims.reduce((a, b) => a * b, 1);
  if (f.length !== n) throw new MimicError('E_SHAPE_MISMATCH', `tensor '${name}': ${f.length} values for dims [${dims.join(', ')}] (${n} needed)`);
  const raw = new Uint8Array(f.byteLength);
  raw.set(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

/** An INT64 tensor proto (values must be safe integers). */
export function int64Tensor(name: string, values: number[], dims: number[] = [values.length]): OnnxTypes.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: values };
}

export interface BuilderOptions {
  /** default-domain opset (default 13) */
  opset?: number;
  /** IR version (default 8) */
  irVersion?: number;
  producer?: string;
  graphName?: string;
  /** seed of the generated weights (default 1) */
  seed?: number;
}

export interface ConvOptions {
  inChannels: number;
  outChannels: number;
  kernel?: number;
  stride?: number;
  /** symmetric padding (default: (kernel - 1) / 2, 'same' for odd kernels at stride 1) */
  pad?: number;
  bias?: boolean;
  name?: string;
}

export class ModelBuilder {
  private readonly opts: Required<BuilderOptions>;
  private readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly valueInfos: OnnxTypes.IValueInfoProto[] = [];
  private readonly inits: OnnxTypes.ITensorProto[] = [];
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;
  private seedCounter = 0;

  constructor(options: BuilderOptions = {}) {
    this.opts = {
      opset: options.opset ?? 13,
      irVersion: options.irVersion ?? 8,
      producer: options.producer ?? 'mimic-engine',
      graphName: options.graphName ?? 'main',
      seed: options.seed ?? 1,
    };
  }

  /** An unused tensor / node name with the given prefix (claimed when used). */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`; while (this.names.has(name));
    return name;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new MimicError('E_INVALID_ARGUMENT', `ModelBuilder: the name '${name}' is already used`);
    this.names.add(name);
    return name;
  }

  input(name: string, shape: Dim[], elemType: ElemType = 'FLOAT'): string {
    this.inputs.push(valueInfo(this.claim(name), shape, elemType));
    return name;
  }

  /** Declares `name` a graph output (shape optional: onnxruntime does not need it). */
  output(name: string, shape?: Dim[] | null, elemType: ElemType = 'FLOAT'): this {
    this.outputs.push(valueInfo(name, shape, elemType));
    return this;
  }

  valueInfo(name: string, shape: Dim[] | null, elemType: ElemType = 'FLOAT'): this {
    this.valueInfos.push(valueInfo(name, shape, elemType));
    return this;
  }

  /** A FLOAT initializer. */
  initializer(name: string, data: Float32Array | number[], dims: number[]): string {
    this.inits.push(floatTensor(this.claim(name), data, dims));
    return name;
  }

  initInt64(name: string, values: number[], dims: number[] = [values.length]): string {
    this.inits.push(int64Tensor(this.claim(name), values, dims));
    return name;
  }

  /** A seeded Gaussian FLOAT initializer with standard deviation `std`. */
  randomInitializer(name: string, dims: number[], std: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    return this.initializer(name, gaussian(n, this.opts.seed * 7919 + 31 * this.seedCounter++, std), dims);
  }

  /** Any node; returns its outputs (fresh names unless given; `outputs` may be a count). */
  nodeMulti(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, o: { outputs?: string[] | number; name?: string; domain?: string } = {}): string[] {
    const outs = Array.isArray(o.outputs)
      ? o.outputs.map((n) => this.claim(n))
      : Array.from({ length: o.outputs ?? 1 }, () => this.claim(this.fresh(opType.toLowerCase())));
    const name = this.claim(o.name ?? this.fresh(opType));
    this.nodes.push({
      name,
      opType,
      domain: o.domain ?? '',
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Any single-output node; returns the output name (`output` names it). */
  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, o: { output?: string; name?: string; domain?: string } = {}): string {
    return this.nodeMulti(opType, inputs, attrs, { outputs: o.output ? [o.output] : 1, name: o.name, domain: o.domain })[0];
  }

  /** Conv with seeded He-initialised weights (and a small random bias unless bias: false). */
  conv(x: string, c: ConvOptions, output?: string): string {
    const k = c.kernel ?? 3;
    const s = c.stride ?? 1;
    const p = c.pad ?? Math.floor((k - 1) / 2);
    const w = this.randomInitializer(this.fresh('W'), [c.outChannels, c.inChannels, k, k], Math.sqrt(2 / (c.inChannels * k * k)));
    const ins = [x, w];
    if (c.bias !== false) ins.push(this.randomInitializer(this.fresh('B'), [c.outChannels], 0.05));
    return this.node('Conv', ins, { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p] }, { output, name: c.name });
  }

  relu(x: string, output?: string): string {
    return this.node('Relu', [x], {}, { output });
  }

  add(a: string, b: string, output?: string): string {
    return this.node('Add', [a, b], {}, { output });
  }

  matMul(a: string, b: string, output?: string): string {
    return this.node('MatMul', [a, b], {}, { output });
  }

  maxPool(x: string, kernel = 2, stride = kernel, pad = 0, output?: string): string {
    return this.node('MaxPool', [x], { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [pad, pad, pad, pad] }, { output });
  }

  globalAveragePool(x: string, output?: string): string {
    return this.node('GlobalAveragePool', [x], {}, { output });
  }

  flatten(x: string, axis = 1, output?: string): string {
    return this.node('Flatten', [x], { axis }, { output });
  }

  /** Gemm y = x W^T + b with seeded weights (x: [batch, inFeatures]). */
  gemm(x: string, inFeatures: number, outFeatures: number, output?: string): string {
    const w = this.randomInitializer(this.fresh('W'), [outFeatures, inFeatures], Math.sqrt(1 / inFeatures));
    const b = this.randomInitializer(this.fresh('B'), [outFeatures], 0.05);
    return this.node('Gemm', [x, w, b], { alpha: { float: 1 }, beta: { float: 1 }, transB: 1 }, { output });
  }

  /** BatchNormalization (inference) with seeded scale / shift / running statistics. */
  batchNorm(x: string, channels: number, output?: string): string {
    const scale = this.initializer(this.fresh('bn_scale'), Float32Array.from(gaussian(channels, this.opts.seed + 101 * this.seedCounter++, 0.1), (v) => 1 + v), [channels]);
    const bias = this.randomInitializer(this.fresh('bn_bias'), [channels], 0.1);
    const mean = this.randomInitializer(this.fresh('bn_mean'), [channels], 0.1);
    const variance = this.initializer(this.fresh('bn_var'), Float32Array.from(gaussian(channels, this.opts.seed + 103 * this.seedCounter++, 0.2), (v) => 1 + Math.abs(v)), [channels]);
    return this.node('BatchNormalization', [x, scale, bias, mean, variance], { epsilon: { float: 1e-5 } }, { output });
  }

  /** Reshape to a constant shape (0 copies a dim, -1 infers one). */
  reshape(x: string, shape: number[], output?: string): string {
    const s = this.initInt64(this.fresh('shape'), shape);
    return this.node('Reshape', [x, s], {}, { output });
  }

  build(): ModelProto {
    const model = onnx.ModelProto.create({
      irVersion: this.opts.irVersion,
      producerName: this.opts.producer,
      producerVersion: '0.1.0',
      opsetImport: [{ domain: '', version: this.opts.opset }],
      graph: onnx.GraphProto.create({
        name: this.opts.graphName,
        input: this.inputs.map((v) => onnx.ValueInfoProto.create(v)),
        output: this.outputs.map((v) => onnx.ValueInfoProto.create(v)),
        valueInfo: this.valueInfos.map((v) => onnx.ValueInfoProto.create(v)),
        initializer: this.inits.map((t) => onnx.TensorProto.create(t)),
        node: this.nodes.map((n) => onnx.NodeProto.create(n)),
      }),
    });
    // a decoded copy, so the result has exactly the shape of a loaded model (Longs, defaults)
    return onnx.ModelProto.decode(encodeModel(model));
  }

  bytes(): Uint8Array {
    return encodeModel(this.build());
  }
}

export interface ConvEncoderOptions {
  /** weight seed (default 1) */
  seed?: number;
  inChannels?: number;
  /** input height = width (default 16) */
  imageSize?: number;
  /** channels per stage; one stage per entry, each after the first halving the resolution (default [4, 8, 16]) */
  widths?: number[];
  /** residual blocks (conv-relu-conv + shortcut, Add, Relu) rather than plain conv-relu (default true) */
  residual?: boolean;
  /** BatchNormalization after every conv (default false) */
  batchNorm?: boolean;
  /** a final Gemm to this many features after Flatten (default: none, the features are the pooled maps) */
  embedDim?: number;
  /** the batch dim: a symbolic name (default 'N') or a number */
  batch?: Dim;
  opset?: number;
}

export interface ConvEncoder {
  model: ModelProto;
  bytes: Uint8Array;
  input: string;
  /** the tensor ending each stage (what autoProbes should find), with its per-sample shape [C, H, W] */
  stages: { name: string; shape: number[] }[];
  /** the graph output (pooled + flattened, or the Gemm's output) and its per-sample size */
  features: string;
  featureDim: number;
}

/**
 * A small conv encoder: a 3x3 stem, then one block per stage (stride 2 from the second stage on), ending in
 * GlobalAveragePool + Flatten (+ Gemm). Weights are seeded. Tensors ending stages are named stage1, stage2, ...
 */
export function buildConvEncoder(options: ConvEncoderOptions = {}): ConvEncoder {
  const cin = options.inChannels ?? 3;
  const size = options.imageSize ?? 16;
  const widths = options.widths ?? [4, 8, 16];
  const residual = options.residual ?? true;
  const bn = options.batchNorm ?? false;
  if (widths.length === 0) throw new MimicError('E_INVALID_ARGUMENT', 'buildConvEncoder: widths must name at least one stage');
  const b = new ModelBuilder({ seed: options.seed ?? 1, opset: options.opset, graphName: 'conv_encoder' });
  const batch = options.batch ?? 'N';
  const x = b.input('input', [batch, cin, size, size]);
  const convBn = (t: string, c: ConvOptions) => {
    const y = b.conv(t, c);
    return bn ? b.batchNorm(y, c.outChannels) : y;
  };
  let t = b.relu(convBn(x, { inChannels: cin, outChannels: widths[0] }));
  let ch = widths[0];
  let hw = size;
  const stages: { name: string; shape: number[] }[] = [];
  widths.forEach((w, s) => {
    const stride = s === 0 ? 1 : 2;
    const name = `stage${s + 1}`;
    if (residual) {
      const y = convBn(b.relu(convBn(t, { inChannels: ch, outChannels: w, stride })), { inChannels: w, outChannels: w });
      const shortcut = stride !== 1 || ch !== w ? convBn(t, { inChannels: ch, outChannels: w, kernel: 1, stride, pad: 0 }) : t;
      t = b.relu(b.add(y, shortcut), name);
    } else {
      t = b.relu(convBn(t, { inChannels: ch, outChannels: w, stride }), name);
    }
    hw = stride === 1 ? hw : Math.floor((hw + 2 - 3) / 2) + 1;
    ch = w;
    stages.push({ name, shape: [w, hw, hw] });
  });
  const pooled = b.globalAveragePool(t);
  let features = b.flatten(pooled, 1, options.embedDim ? undefined : 'features');
  let featureDim = ch;
  if (options.embedDim) {
    features = b.gemm(features, ch, options.embedDim, 'features');
    featureDim = options.embedDim;
  }
  b.output(features, [batch, featureDim]);
  const model = b.build();
  return { model, bytes: encodeModel(model), input: x, stages, features, featureDim };
}
