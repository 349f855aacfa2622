/**
 * The contract between the TypeScript graph reader (ONNX -> network) and the native training engine: a plain
 * layer list in topological order. native/ knows nothing of ONNX; it receives this.
 */

/** Ops the native network supports (ONNX names; 'L2Norm' is ours: y = x / max(||x||_2, 1e-12) per row). */
export const SUPPORTED_OPS = [
  'Conv',
  'BatchNormalization',
  'Relu',
  'Add',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Flatten',
  'Reshape',
  'Gemm',
  'MatMul',
  'L2Norm',
  'Clip',
  'LeakyRelu',
  'Silu',
] as const;
export type OpType = (typeof SUPPORTED_OPS)[number];

export interface LayerSpec {
  op: OpType;
  /** Node name, used in error messages. */
  name: string;
  /** Activation tensors read (graph inputs or earlier layers' outputs), in the op's ONNX input order. */
  inputs: string[];
  /** Activation tensors written (exactly one for every op here). */
  outputs: string[];
  /**
   * Trainable parameters, in order: Conv [W (OC, C/group, KH, KW), B (OC)?]; BatchNormalization [scale, bias];
   * Gemm [B (out, in) when transB = 1 else (in, out), C (out)?]; MatMul [B (K, N)] when its second input is a
   * constant weight.
   */
  params?: string[];
  /** Non-trainable state: BatchNormalization [running_mean, running_var]. */
  buffers?: string[];
  /**
   * Attributes, ONNX names and meanings: Conv strides [sh, sw], pads [t, l, b, r], dilations [dh, dw], group;
   * BatchNormalization epsilon, momentum (PyTorch convention: running = (1 - momentum) running + momentum stat,
   * default 0.1); MaxPool / AveragePool kernel_shape, strides, pads, ceil_mode, count_include_pad; Flatten axis;
   * Reshape shape (ints, 0 = copy, -1 = infer); Gemm transB (alpha = beta = 1 only).
   */
  attrs: Record<string, number | number[]>;
}

export interface TensorSpec {
  name: string;
  shape: number[];
  /** Initial values (row-major); absent = zeros (buffers) or required (params). */
  data?: Float32Array;
}

export interface NetworkSpec {
  /** Graph inputs: per-sample shapes (no batch dimension), e.g. [3, 32, 32]. */
  inputs: { name: string; shape: number[] }[];
  /** Graph outputs (activation tensor names). */
  outputs: string[];
  layers: LayerSpec[];
  params: TensorSpec[];
  buffers: TensorSpec[];
}
