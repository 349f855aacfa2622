/**
 * estimateMI: batched KDE mutual information between L layers and one feature set, in one native pass, off the
 * event loop. Maths and test values: shared/docs/kde-mi.md; the engine: native/cpu/kde_mi.cc.
 */
import { MimicError, fromNative, invalid, checkAborted } from '../errors.ts';
import { native, type KernelPathName, type NativeBandwidth, type NativeMatrix } from '../native.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export const QUANTITIES = [
  'I_TZ',
  'I_TZ_loo',
  'I_TX_up',
  'I_TX_low',
  'I_TY',
  'H_T_up',
  'H_T_low',
  'H_Z_up',
  'H_TZ_up',
  'HSIC',
  'CKA',
] as const;
export type Quantity = (typeof QUANTITIES)[number];

export interface Matrix {
  /** Row-major samples: rows = N samples, cols = flattened dimension. */
  data: Float32Array;
  rows: number;
  cols: number;
  /** Shown in errors and tables. */
  name?: string;
}

export interface Bandwidth {
  /** 'relative' (default): sigma^2 = value x the data set's own scale statistic; 'absolute': sigma^2 = value. */
  mode?: 'relative' | 'absolute';
  /** sigma^2 values or factors; all of them are computed in the same pass. */
  values: number[];
  /** Scale statistic for relative mode: median squared pairwise distance (default) or mean squared distance. */
  scale?: 'medianSq' | 'meanSqNorm';
  /** Pairs sampled for the median (default 20000; all pairs when fewer exist). */
  pairs?: number;
  /** Seed of the pair sample (default 0). */
  seed?: number;
}

export interface EstimateMIOptions {
  layers: Matrix[];
  /** Z. Required for I_TZ, I_TZ_loo, H_Z_up, H_TZ_up, HSIC, CKA. */
  features?: Matrix;
  /** Integer class labels (>= 0), one per sample; required for I_TY. */
  labels?: Int32Array | readonly number[];
  /** Layer bandwidths (default: relative, factors 1/16, 1/4, 1 of the median squared distance). */
  bandwidth?: Bandwidth | number[];
  /** Feature bandwidths: one value for all, or one per layer bandwidth (default: same spec as `bandwidth`). */
  featureBandwidth?: Bandwidth | number[];
  /** Default: I_TZ, I_TZ_loo, I_TX_up, I_TX_low (I_TY added when labels are given). */
  quantities?: readonly Quantity[];
  /** Worker threads for this call (default: the global pool, all cores). */
  threads?: number;
  /** 'auto' (default) uses the GPU when one is usable, else the CPU. */
  backend?: 'auto' | 'cpu' | 'cuda';
  /** 'fp32' (default): the tiled engine; 'fp64': the plain float64 reference (slow, O(N^2 D)). */
  precision?: 'fp32' | 'fp64';
  /** Samples per tile side of the CPU engine (default: chosen from N and the layer widths); results do not
   * depend on it. */
  tile?: number;
  /** Force the portable kernels ('generic') or a SIMD family (default 'auto': the best this CPU has). */
  kernelPath?: KernelPathName;
  /** Rejects NaN/Inf in the inputs (default true). */
  checkFinite?: boolean;
  /**
   * Read the arrays in place instead of copying them when the call is made (default false; the copy is O(N D)
   * against the estimate's O(N^2 D)). Only for callers that neither transfer (postMessage) nor detach them until
   * the promise settles: freed memory under the worker threads would crash the process.
   */
  borrow?: boolean;
  /** Checked before the native work starts and when it returns (a running native pass is not interrupted). */
  signal?: AbortSignal;
}

const ESTIMATE_OPTIONS = optionNames<EstimateMIOptions>({ layers: true, features: true, labels: true, bandwidth: true, featureBandwidth: true, quantities: true, threads: true, backend: true, precision: true, tile: true, kernelPath: true, checkFinite: true, borrow: true, signal: true });

export interface LayerEstimate {
  name: string;
  dim: number;
  /** Scale statistic (relative mode) or 1. */
  scale: number;
  /** sigma^2 used at each bandwidth index. */
  s2: number[];
  /** quantity -> value per bandwidth index (nats). Only requested quantities are present. */
  values: Partial<Record<Quantity, number[]>>;
  /** Fraction of rows whose kernel sum is within 1e-3 (log) of the self term, per bandwidth: near 1 means the
   * bandwidth is too small for N and the estimate sits at the ln N ceiling. */
  saturation: number[];
}

export interface MIEstimate {
  n: number;
  /** Ceiling of every resubstitution estimate. */
  lnN: number;
  bandwidth: Required<Bandwidth>;
  quantities: Quantity[];
  layers: LayerEstimate[];
  /** saturation: per bandwidth, the share of rows at Z's own ln N ceiling (near 1: Z's bandwidth too small, I_TZ
   *  then reads I_TX_up). */
  features?: { name: string; dim: number; scale: number; s2: number[]; saturation: number[] };
  backend: string;
  /** Wall seconds of the NaN/Inf scan, the scale pre-pass and the estimate. */
  seconds: { check: number; scale: number; estimate: number };
  /** CPU engine work accounting (thread-seconds summed over threads); zeros for other engines. */
  work: { gemmThreadSeconds: number; gemmFlops: number; epilogueThreadSeconds: number; tile: number };
}

const DEFAULT_FACTORS = [1 / 16, 1 / 4, 1];
const BANDWIDTH_OPTIONS = optionNames<Bandwidth>({ mode: true, values: true, scale: true, pairs: true, seed: true });

/** The bandwidth options with their defaults, checked (E_INVALID_ARGUMENT naming `what`). */
export function normaliseBandwidth(b: Bandwidth | number[] | undefined, what: string): Required<Bandwidth> {
  if (b !== undefined && !Array.isArray(b) && (b === null || typeof b !== 'object'))
    throw invalid(`${what} must be an array of factors or { mode, values, scale } (got ${b === null ? 'null' : typeof b})`);
  const spec: Bandwidth = b === undefined ? { values: DEFAULT_FACTORS } : Array.isArray(b) ? { values: b } : b;
  if (!Array.isArray(b) && b !== undefined) checkOptionNames(b, BANDWIDTH_OPTIONS, what);
  if (!Array.isArray(spec.values) || spec.values.length === 0)
    throw invalid(`${what}.values must be a non-empty array of positive numbers`);
  spec.values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw invalid(`${what}.values[${i}] must be a positive finite number (got ${v})`);
  });
  const mode = spec.mode ?? 'relative';
  if (mode !== 'relative' && mode !== 'absolute') throw invalid(`${what}.mode must be 'relative' or 'absolute'`);
  const scale = spec.scale ?? 'medianSq';
  if (scale !== 'medianSq' && scale !== 'meanSqNorm') throw invalid(`${what}.scale must be 'medianSq' or 'meanSqNorm'`);
  return { mode, values: [...spec.values], scale, pairs: spec.pairs ?? 20000, seed: spec.seed ?? 0 };
}

const MATRIX_KEYS = optionNames<Matrix>({ data: true, rows: true, cols: true, name: true });

function checkMatrix(m: Matrix, what: string): NativeMatrix {
  if (!m || typeof m !== 'object') throw invalid(`${what} must be an object { data, rows, cols }`);
  checkOptionNames(m, MATRIX_KEYS, what);
  if (!(m.data instanceof Float32Array))
    throw new MimicError('E_DTYPE', `${what}.data must be a Float32Array (got ${(m.data as unknown as object)?.constructor?.name ?? typeof m.data})`);
  for (const k of ['rows', 'cols'] as const)
    if (!Number.isInteger(m[k]) || m[k] < 1) throw invalid(`${what}.${k} must be a positive integer (got ${m[k]})`);
  if (m.data.length !== m.rows * m.cols)
    throw new MimicError(
      'E_SHAPE_MISMATCH',
      `${what}.data has ${m.data.length} elements, rows x cols = ${m.rows} x ${m.cols} = ${m.rows * m.cols}`,
    );
  return { data: m.data, rows: m.rows, cols: m.cols, name: m.name ?? what };
}

/**
 * `work`, or a rejection as soon as `signal` fires (after setting `cancel`, which the native work polls); the native
 * promise's own late rejection is then ignored.
 */
function whileNotAborted<T>(signal: AbortSignal | undefined, cancel: Int32Array | undefined, work: Promise<T>): Promise<T> {
  if (!signal || !cancel) return work;
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      Atomics.store(cancel, 0, 1);
      try {
        checkAborted(signal, 'estimateMI'); // the E_ABORTED error, with the signal's reason
      } catch (err) {
        reject(err);
      }
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  work.catch(() => {}); // settles after an abort too: nothing to report then
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

/** Estimates MI quantities for every layer and bandwidth in one native pass. Never blocks the event loop. */
export async function estimateMI(options: EstimateMIOptions): Promise<MIEstimate> {
  const o = options;
  if (!o || typeof o !== 'object') throw invalid('estimateMI: options object required');
  checkOptionNames(o, ESTIMATE_OPTIONS, 'estimateMI');
  checkAborted(o.signal, 'estimateMI');
  if (!Array.isArray(o.layers) || o.layers.length === 0) throw invalid('layers must be a non-empty array');
  const layers = o.layers.map((m, i) => checkMatrix(m, m?.name ? `layers[${i}] (${m.name})` : `layers[${i}]`));
  layers.forEach((m, i) => (m.name = o.layers[i].name ?? `layer${i}`));
  const features = o.features ? checkMatrix(o.features, 'features') : undefined;
  if (features) features.name = o.features?.name ?? 'features';

  let labels: Int32Array | undefined;
  if (o.labels !== undefined) {
    const given = o.labels as ArrayLike<unknown>;
    if (!(given instanceof Int32Array || Array.isArray(given) || ArrayBuffer.isView(given)) || given instanceof DataView)
      throw new MimicError('E_DTYPE', 'labels must be an Int32Array or an array of integers');
    // checked before any conversion: Int32Array.from would truncate 0.5 and turn NaN into 0
    const big = given instanceof BigInt64Array || given instanceof BigUint64Array; // an int64 .npy read as is
    for (let i = 0; i < given.length; ++i) {
      const v = big ? Number(given[i] as bigint) : given[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw invalid(`labels[${i}] must be a non-negative integer below 2^31 (got ${String(given[i])})`);
    }
    labels = given instanceof Int32Array ? given : Int32Array.from(given as ArrayLike<number | bigint>, (v) => Number(v));
  }
  const defaults: Quantity[] = [
    ...(features ? (['I_TZ', 'I_TZ_loo'] as const) : []),
    'I_TX_up',
    'I_TX_low',
    ...(labels ? (['I_TY'] as const) : []),
  ];
  const quantities: Quantity[] = [...(o.quantities ?? defaults)];
  let mask = 0;
  for (const q of quantities) {
    const bit = QUANTITIES.indexOf(q);
    if (bit < 0) throw invalid(`unknown quantity '${q}' (known: ${QUANTITIES.join(', ')})`);
    mask |= 1 << bit;
  }
  if (mask === 0) throw invalid('quantities must not be empty');

  const bandwidth = normaliseBandwidth(o.bandwidth, 'bandwidth');
  const featureBandwidth: NativeBandwidth =
    o.featureBandwidth === undefined ? bandwidth : normaliseBandwidth(o.featureBandwidth, 'featureBandwidth');

  const addon = native();
  let backend = o.backend ?? 'auto';
  if (backend === 'auto') backend = addon.buildInfo().gpuAvailable ? 'cuda' : 'cpu';
  if (backend !== 'cpu' && backend !== 'cuda') throw invalid(`backend must be 'auto', 'cpu' or 'cuda' (got '${backend}')`);
  const threads = o.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) throw invalid(`threads must be a non-negative integer (got ${typeof threads === 'string' ? `'${threads}'` : String(threads)})`);

  // With a signal: an abort rejects at once, and the flag stops the native work at its next tile.
  const cancel = o.signal ? new Int32Array(1) : undefined;
  let r;
  try {
    r = await whileNotAborted(o.signal, cancel, addon.estimateMI({
      layers,
      features,
      labels,
      bandwidth,
      featureBandwidth,
      quantities: mask,
      threads,
      tile: o.tile ?? 0,
      path: o.kernelPath ?? 'auto',
      precision: o.precision ?? 'fp32',
      backend,
      checkFinite: o.checkFinite ?? true,
      borrow: o.borrow === true,
      cancel,
    }));
  } catch (err) {
    checkAborted(o.signal, 'estimateMI');
    throw fromNative(err);
  }
  checkAborted(o.signal, 'estimateMI');

  const B = r.numBandwidths;
  const Q = QUANTITIES.length;
  const out: LayerEstimate[] = layers.map((m, l) => {
    const values: Partial<Record<Quantity, number[]>> = {};
    for (const q of quantities) {
      const qi = QUANTITIES.indexOf(q);
      values[q] = Array.from({ length: B }, (_, b) => r.values[(l * B + b) * Q + qi]);
    }
    return {
      name: m.name ?? `layer${l}`,
      dim: m.cols,
      scale: r.layerScales[l],
      s2: Array.from(r.s2Layers.subarray(l * B, (l + 1) * B)),
      values,
      saturation: Array.from(r.saturation.subarray(l * B, (l + 1) * B)),
    };
  });
  return {
    n: r.n,
    lnN: Math.log(r.n),
    bandwidth,
    quantities,
    layers: out,
    features: features
      ? { name: features.name ?? 'features', dim: features.cols, scale: r.featureScale, s2: Array.from(r.s2Features), saturation: Array.from(r.featureSaturation) }
      : undefined,
    backend: r.backend,
    seconds: { check: r.secondsCheck, scale: r.secondsScale, estimate: r.secondsEstimate },
    work: { gemmThreadSeconds: r.gemmThreadSeconds, gemmFlops: r.gemmFlops, epilogueThreadSeconds: r.epilogueThreadSeconds, tile: r.tile },
  };
}
