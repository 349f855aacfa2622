/**
 * Optimisers with PyTorch's semantics (torch 1.13 / 2.x defaults: single-tensor, maximize=False), run natively on
 * Float32Array parameters that are updated in place:
 *  - `adam`: L2 weight decay folded into the gradient (grad + wd * p), bias-corrected moments,
 *    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps); optional amsgrad.
 *  - `adamw`: decoupled weight decay (p *= 1 - lr * wd first; default wd 1e-2), then Adam's update.
 *  - `sgd`: weight decay, momentum (buffer = grad on the first step), dampening, Nesterov; lr is required.
 * Defaults are PyTorch's. Parameter groups carry their own hyperparameters; `setLr` changes lr between steps.
 * `saveState` / `loadState` round-trip the buffers, the step count and the groups' hyperparameters exactly.
 */
import { fromNative, MimicError } from '../errors.ts';
import { native } from '../native.ts';

export type OptimizerKind = 'adam' | 'adamw' | 'sgd';

export interface Hyperparameters {
  /** Learning rate (>= 0). Default 1e-3 for Adam/AdamW; required for SGD. */
  lr?: number;
  /** Adam/AdamW: [beta1, beta2], each in [0, 1). Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Adam/AdamW: >= 0, added to sqrt(v_hat). Default 1e-8. */
  eps?: number;
  /** >= 0. Default 0 (Adam, SGD) or 1e-2 (AdamW). */
  weightDecay?: number;
  /** Adam/AdamW. Default false. */
  amsgrad?: boolean;
  /** SGD: >= 0. Default 0. */
  momentum?: number;
  /** SGD. Default 0. */
  dampening?: number;
  /** SGD: needs momentum > 0 and dampening 0. Default false. */
  nesterov?: boolean;
}

export interface ParamGroupOptions extends Hyperparameters {
  /** Indices into `params`; every parameter belongs to exactly one group. */
  params: number[];
}

export interface OptimizerOptions extends Hyperparameters {
  kind: OptimizerKind;
  params: Float32Array[];
  /** Per-group overrides of the top-level hyperparameters (which are the defaults). Default: one group. */
  groups?: ParamGroupOptions[];
  /** Threads for a step (0 = the engine's pool size). Results do not depend on it. */
  threads?: number;
}

/** A group's effective hyperparameters (only the kind's own fields are present). */
export interface GroupHyperparameters extends Hyperparameters {
  lr: number;
  weightDecay: number;
  params: number[];
}

export interface OptimizerState {
  kind: OptimizerKind;
  step: number;
  /** Buffer names per parameter: exp_avg, exp_avg_sq[, max_exp_avg_sq] or momentum_buffer (none for plain SGD). */
  slots: string[];
  /** Element count of each parameter. */
  sizes: number[];
  groups: GroupHyperparameters[];
  /** For each parameter i, for each slot: sizes[i] values (float32 in the engine; float64 on request). */
  state: Float32Array | Float64Array;
}

interface NativeOptimizer {
  step(grads: Float32Array[]): void;
  stepAsync(grads: Float32Array[], options?: { borrow?: boolean }): Promise<void>;
  setLr(lr: number, group?: number): void;
  stepCount(): number;
  hyperparameters(): GroupHyperparameters[];
  saveState(dtype?: 'float32' | 'float64'): OptimizerState;
  loadState(state: OptimizerState): void;
}
type NativeOptimizerCtor = new (opts: OptimizerOptions) => NativeOptimizer;

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

export class Optimizer {
  readonly kind: OptimizerKind;
  private readonly impl: NativeOptimizer;

  private constructor(kind: OptimizerKind, impl: NativeOptimizer) {
    this.kind = kind;
    this.impl = impl;
  }

  /** Creates an optimiser over `params` (held by reference and updated in place by every step). */
  static create(options: OptimizerOptions): Optimizer {
    if (typeof options !== 'object' || options === null)
      throw new MimicError('E_INVALID_ARGUMENT', 'Optimizer options must be an object');
    if (!Array.isArray(options.params))
      throw new MimicError('E_INVALID_ARGUMENT', 'Optimizer.params must be an array of Float32Array');
    const Ctor = (native() as unknown as { Optimizer: NativeOptimizerCtor }).Optimizer;
    return new Optimizer(options.kind, call(() => new Ctor(options)));
  }

  /** One step: grads[i] (same length as params[i]) updates params[i] in place. Synchronous. */
  step(grads: Float32Array[]): void {
    call(() => this.impl.step(grads));
  }

  /**
   * The same step off the event loop, on copies of the parameters and gradients made at the call: the updated
   * parameters are written into params when the promise settles (a parameter transferred or detached meanwhile is
   * not, and the call rejects naming it; values written into a parameter meanwhile are overwritten by the step). `borrow: true` skips the copies and updates params in place on the worker:
   * only for callers that neither read, write nor transfer params and grads until it settles (the training loops).
   */
  async stepAsync(grads: Float32Array[], options?: { borrow?: boolean }): Promise<void> {
    try {
      await call(() => this.impl.stepAsync(grads, options));
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Sets lr for every group, or for one group (for schedules; takes effect at the next step). */
  setLr(lr: number, group?: number): void {
    if (typeof lr !== 'number') throw new MimicError('E_INVALID_ARGUMENT', 'Optimizer.setLr: lr must be a number');
    call(() => this.impl.setLr(lr, group));
  }

  /** Steps taken so far (PyTorch's state['step']). */
  get stepCount(): number {
    return this.impl.stepCount();
  }

  /** The groups' current hyperparameters. */
  hyperparameters(): GroupHyperparameters[] {
    return this.impl.hyperparameters();
  }

  /** A copy of the optimiser's state; float32 (exact) by default. */
  saveState(dtype: 'float32' | 'float64' = 'float32'): OptimizerState {
    return call(() => this.impl.saveState(dtype));
  }

  /** Restores a saved state (same kind, sizes and buffers); all or nothing. A resumed run is bit-identical. */
  loadState(state: OptimizerState): void {
    call(() => this.impl.loadState(state));
  }
}
