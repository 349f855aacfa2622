/**
 * A trainable network run by the native engine, built from a NetworkSpec (./spec.ts): forward and backward on CPU
 * over the engine's layer kernels, parameters / gradients / BatchNorm buffers owned natively, activation and
 * gradient memory planned once per batch size and reused (re-planned only when the batch changes).
 *
 *   const net = Network.create(spec);
 *   net.setMode('train');                               // 'train' | 'eval' | 'frozen-bn'
 *   const out = net.forward({ input: x });              // batch inferred from x's length (or pass it)
 *   net.forward({ input: x }, undefined, { into: bufs }); // outputs copied into bufs' arrays (no allocation)
 *   net.backward({ [outName]: dLoss_dOut });             // overwrites every parameter gradient
 *   const opt = Optimizer.create({ kind: 'adam', params: net.paramViews(), lr: 1e-3 });
 *   opt.step(net.gradViews());                           // zero-copy: views over the native storage
 *
 * Modes: 'train' normalises with batch statistics and updates BN running stats (PyTorch's momentum convention);
 * 'eval' uses running stats; 'frozen-bn' uses running stats and gives BN scale/bias zero gradients.
 * Gradients at tensors read by several layers (residual forks) are summed. A graph output missing from
 * backward()'s record has a zero gradient.
 *
 * paramViews() / gradViews() are Float32Arrays over the native parameter / gradient memory (created once per
 * network; they keep the native storage alive). Writing a param view changes the network's weights; do not
 * touch them while forwardAsync / backwardAsync is pending. getParams() / getGrads() / getBuffers() return copies.
 */
import { fromNative, MimicError } from '../errors.ts';
import { native } from '../native.ts';
import type { NetworkSpec } from './spec.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export type NetworkMode = 'train' | 'eval' | 'frozen-bn';

export interface NetworkOptions {
  /** Kernel threads (0 = the engine's pool size). */
  threads?: number;
}
const NETWORK_OPTIONS = optionNames<NetworkOptions>({ threads: true });

export interface PlanInfo {
  /** The batch size planned for (0 before the first forward / plan). */
  batch: number;
  /** How many times memory was planned (changes only when the batch size changes). */
  plans: number;
  activationBytes: number;
  /** Activation gradients, slots shared between tensors whose lifetimes in backward do not overlap. */
  gradientBytes: number;
  /** Gradient summing at forks. */
  scratchBytes: number;
  /** Conv im2col workspace, shared by every conv. */
  workspaceBytes: number;
  /** activation + gradient + scratch + workspace (per batch). */
  totalBytes: number;
  /** Parameters, their gradients, buffers and BN saved statistics (independent of the batch). */
  paramBytes: number;
}

/** One layer's wall time while profiling was on (Network.setProfiling). */
export interface LayerTiming {
  name: string;
  /** The ONNX op (or 'L2Norm'). */
  op: string;
  /** Shapes at the last planned batch. */
  inputShape: number[];
  outputShape: number[];
  forwardSeconds: number;
  backwardSeconds: number;
  forwardCalls: number;
  /** A layer nothing flowed back through is not called in backward. */
  backwardCalls: number;
}

type F32Record = Record<string, Float32Array>;

export interface ForwardOptions {
  /** Output name -> the array that output is copied into (instead of a new one). */
  into?: F32Record;
  /**
   * forwardAsync: read the input arrays in place instead of copying them when the call is made (default false).
   * Only for callers that neither transfer (postMessage) nor detach them until the promise settles: freed memory
   * under the worker thread would crash the process.
   */
  borrow?: boolean;
}
export interface BackwardOptions {
  /** backwardAsync: read the gradient arrays in place (see ForwardOptions.borrow). */
  borrow?: boolean;
}
/** Options of the training loops' own calls: their arrays are private to the loop, never transferred: read in place. */
export const BORROW = { borrow: true } as const;
function intoOf(options: ForwardOptions, what: string): F32Record | undefined {
  if (options === null || typeof options !== 'object') throw new MimicError('E_INVALID_ARGUMENT', `${what}: options must be an object`);
  return options.into === undefined ? undefined : record(options.into, `${what} into`);
}

interface NativeNetwork {
  setMode(mode: NetworkMode): void;
  mode(): NetworkMode;
  forward(inputs: F32Record, batch?: number, into?: F32Record): F32Record;
  backward(grads: F32Record, inputGrads?: boolean): F32Record | undefined;
  forwardAsync(inputs: F32Record, batch?: number, into?: F32Record, borrow?: boolean): Promise<F32Record>;
  backwardAsync(grads: F32Record, inputGrads?: boolean, borrow?: boolean): Promise<F32Record | undefined>;
  paramNames(): string[];
  paramShapes(): Record<string, number[]>;
  bufferNames(): string[];
  inputNames(): string[];
  outputNames(): string[];
  getParams(): F32Record;
  setParams(values: F32Record): void;
  getGrads(): F32Record;
  getBuffers(): F32Record;
  setBuffers(values: F32Record): void;
  plan(batch: number): number;
  plannedBytes(): number;
  planInfo(): PlanInfo;
  paramViews(): Float32Array[];
  gradViews(): Float32Array[];
  setProfiling(on: boolean): void;
  layerTimings(): LayerTiming[];
}
type NativeNetworkCtor = (new (spec: NetworkSpec, options?: NetworkOptions) => NativeNetwork) & { supportedOps: string[] };

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

function record(value: unknown, what: string): F32Record {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new MimicError('E_INVALID_ARGUMENT', `${what} must be an object of Float32Array by tensor name`);
  for (const [k, v] of Object.entries(value))
    if (v !== undefined && !(v instanceof Float32Array))
      throw new MimicError('E_DTYPE', `${what}.${k} must be a Float32Array`);
  return value as F32Record;
}

export class Network {
  private readonly impl: NativeNetwork;

  private constructor(impl: NativeNetwork) {
    this.impl = impl;
  }

  /** Ops the engine supports (ONNX names, plus our 'L2Norm'). */
  static get supportedOps(): string[] {
    return [...(native() as unknown as { Network: NativeNetworkCtor }).Network.supportedOps];
  }

  /** Validates the spec (errors name the layer) and builds the network with its initial weights. */
  static create(spec: NetworkSpec, options: NetworkOptions = {}): Network {
    if (typeof spec !== 'object' || spec === null) throw new MimicError('E_INVALID_ARGUMENT', 'Network spec must be an object');
    checkOptionNames(options, NETWORK_OPTIONS, 'Network.create');
    const Ctor = (native() as unknown as { Network: NativeNetworkCtor }).Network;
    return new Network(call(() => new Ctor(spec, options)));
  }

  get mode(): NetworkMode {
    return this.impl.mode();
  }
  setMode(mode: NetworkMode): void {
    call(() => this.impl.setMode(mode));
  }

  get inputNames(): string[] {
    return this.impl.inputNames();
  }
  get outputNames(): string[] {
    return this.impl.outputNames();
  }

  /**
   * Runs the network; returns copies of the outputs. `batch` defaults to inputs' length / sample size. With
   * `into`, the outputs it names are copied into its arrays (exactly the output's length) and those arrays are
   * returned: a loop that reuses them allocates nothing per step.
   */
  forward(inputs: F32Record, batch?: number, options: ForwardOptions = {}): F32Record {
    return call(() => this.impl.forward(record(inputs, 'Network.forward inputs'), batch, intoOf(options, 'Network.forward')));
  }
  /**
   * forward() off the event loop. The inputs are copied when the call is made (unless `borrow`); the outputs are
   * copied into `into` when it settles (an `into` array detached meanwhile rejects the call).
   */
  async forwardAsync(inputs: F32Record, batch?: number, options: ForwardOptions = {}): Promise<F32Record> {
    try {
      return await this.impl.forwardAsync(record(inputs, 'Network.forwardAsync inputs'), batch, intoOf(options, 'Network.forwardAsync'), options.borrow === true);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Backpropagates output gradients through the last forward; parameter gradients are overwritten. */
  backward(outputGrads: F32Record): void;
  backward(outputGrads: F32Record, inputGrads: true): F32Record;
  backward(outputGrads: F32Record, inputGrads = false): F32Record | void {
    const r = call(() => this.impl.backward(record(outputGrads, 'Network.backward gradients'), inputGrads));
    return inputGrads ? (r as F32Record) : undefined;
  }
  /** backward() off the event loop; the gradients are copied when the call is made (unless `borrow`). */
  async backwardAsync(outputGrads: F32Record, inputGrads?: false, options?: BackwardOptions): Promise<void>;
  async backwardAsync(outputGrads: F32Record, inputGrads: true, options?: BackwardOptions): Promise<F32Record>;
  async backwardAsync(outputGrads: F32Record, inputGrads = false, options: BackwardOptions = {}): Promise<F32Record | void> {
    try {
      const r = await this.impl.backwardAsync(record(outputGrads, 'Network.backwardAsync gradients'), inputGrads, options?.borrow === true);
      return inputGrads ? (r as F32Record) : undefined;
    } catch (err) {
      throw fromNative(err);
    }
  }

  paramNames(): string[] {
    return this.impl.paramNames();
  }
  paramShapes(): Record<string, number[]> {
    return this.impl.paramShapes();
  }
  bufferNames(): string[] {
    return this.impl.bufferNames();
  }
  getParams(): F32Record {
    return call(() => this.impl.getParams());
  }
  /** Copies values in by name (any subset; all validated before anything is written). */
  setParams(values: F32Record): void {
    call(() => this.impl.setParams(record(values, 'Network.setParams argument')));
  }
  getGrads(): F32Record {
    return call(() => this.impl.getGrads());
  }
  getBuffers(): F32Record {
    return call(() => this.impl.getBuffers());
  }
  setBuffers(values: F32Record): void {
    call(() => this.impl.setBuffers(record(values, 'Network.setBuffers argument')));
  }

  /** Plans memory for a batch size now (forward does it on demand); returns the planned bytes. */
  plan(batch: number): number {
    return call(() => this.impl.plan(batch));
  }
  plannedBytes(): number {
    return this.impl.plannedBytes();
  }
  planInfo(): PlanInfo {
    return this.impl.planInfo();
  }

  /** Per-layer timing (two clock reads per layer call): on clears the counts and starts; off stops. */
  setProfiling(on: boolean): void {
    call(() => this.impl.setProfiling(on));
  }
  /** Every layer's forward / backward wall time and calls since setProfiling(true), in layer order. */
  layerTimings(): LayerTiming[] {
    return call(() => this.impl.layerTimings());
  }

  /** Float32Arrays over the native parameters (paramNames() order): pass to Optimizer.create({ params }). */
  paramViews(): Float32Array[] {
    return call(() => this.impl.paramViews());
  }
  /** Float32Arrays over the native parameter gradients: pass to optimizer.step(). */
  gradViews(): Float32Array[] {
    return call(() => this.impl.gradViews());
  }
}
