/**
 * Seeded two-view SimCLR augmentation, run natively (semantics: native/include/mimic/augment.h). Per image:
 * RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3, torchvision's 10 tries then centre crop; bilinear,
 * align_corners=False, no antialias, rounded to uint8 as torchvision does for uint8 tensors, then / 255),
 * horizontal flip (p 0.5), ColorJitter(0.4, 0.4, 0.4, 0.1) in a random order with p 0.8, grayscale p 0.2,
 * normalisation (CIFAR-10 mean/std for 3 channels, none for 1 channel by default).
 *
 * Determinism: image k of a batch draws from a counter-based stream keyed by (seed, counter, view, k); the same
 * (seed, counter, indices) gives the same views whatever the thread count. Use the training step as `counter`.
 */
import { fromNative, MimicError } from '../errors.ts';
import type { ImageDataset } from '../data/types.ts';
import { native } from '../native.ts';

export type JitterRange = number | [number, number];
export type AugmentNormalize = 'cifar10' | 'none' | { mean: number[]; std: number[] };

export interface AugmentParams {
  /** Crop area fraction range. Default [0.08, 1]. */
  scale?: [number, number];
  /** Crop aspect-ratio (w / h) range. Default [3/4, 4/3]. */
  ratio?: [number, number];
  /** RandomResizedCrop tries before the centre-crop fallback. Default 10. */
  cropAttempts?: number;
  flipP?: number;
  jitterP?: number;
  /** torchvision's ColorJitter arguments: v -> [max(0, 1 - v), 1 + v] (hue: [-v, v]) or an explicit [lo, hi]. */
  brightness?: JitterRange;
  contrast?: JitterRange;
  saturation?: JitterRange;
  hue?: JitterRange;
  grayP?: number;
  /** Round the resized crop to uint8 before / 255 (torchvision on uint8 tensors). Default true. */
  roundResize?: boolean;
  normalize?: AugmentNormalize;
}

/**
 * The parameters an omitted AugmentParams field takes (the native engine's, SimCLR's CIFAR recipe), for reports that
 * record what ran; test/augment.test.ts checks that they give the same views as the omitted fields.
 */
export const AUGMENT_DEFAULTS = {
  scale: [0.08, 1],
  ratio: [3 / 4, 4 / 3],
  cropAttempts: 10,
  flipP: 0.5,
  jitterP: 0.8,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.1,
  grayP: 0.2,
  roundResize: true,
} as const satisfies Required<Omit<AugmentParams, 'normalize'>>;

export interface TwoViewsOptions extends AugmentParams {
  seed: number;
  /** The step (or any counter): different counters give independent augmentations. */
  counter: number;
  /** Output side (or [h, w]). Default 32. */
  size?: number | [number, number];
  /** 0 = the engine's pool size. */
  threads?: number;
  /** Also return each image's random choices. */
  returnDraws?: boolean;
}

export const JITTER_OPS = ['brightness', 'contrast', 'saturation', 'hue'] as const;
export type JitterOp = (typeof JITTER_OPS)[number];

export interface AugmentDraw {
  crop: { top: number; left: number; height: number; width: number };
  flip: boolean;
  /** Whether ColorJitter ran; when it did, the factors and the order of the ops applied. */
  jitter: boolean;
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  order: JitterOp[];
  grayscale: boolean;
}

export interface TwoViews {
  view1: Float32Array;
  view2: Float32Array;
  /** [n, C, outH, outW] */
  shape: [number, number, number, number];
  draws1?: AugmentDraw[];
  draws2?: AugmentDraw[];
}

export interface FixedAugment {
  /** The image of the dataset (default 0). */
  index?: number;
  size?: number | [number, number];
  crop: { top: number; left: number; height: number; width: number };
  flip?: boolean;
  /** Omitted: no jitter. order defaults to all four ops in the order brightness, contrast, saturation, hue. */
  jitter?: { brightness?: number; contrast?: number; saturation?: number; hue?: number; order?: JitterOp[] };
  grayscale?: boolean;
  normalize?: AugmentNormalize;
  roundResize?: boolean;
}

interface NativeAugment {
  twoViews(args: object): RawTwoViews;
  twoViewsAsync(args: object): Promise<RawTwoViews>;
  applyFixed(args: object): Float32Array;
  drawFields: number;
}
interface RawTwoViews {
  view1: Float32Array;
  view2: Float32Array;
  shape: [number, number, number, number];
  draws1?: Float64Array;
  draws2?: Float64Array;
}

function addon(): NativeAugment {
  const a = (native() as unknown as { augment?: NativeAugment }).augment;
  if (!a) throw new MimicError('E_NATIVE_LOAD', 'the native engine was built without augment; rebuild it (npm run build)');
  return a;
}

function decodeDraws(raw: Float64Array, fields: number): AugmentDraw[] {
  const out: AugmentDraw[] = [];
  for (let k = 0; k * fields < raw.length; ++k) {
    const r = raw.subarray(k * fields, (k + 1) * fields);
    const order: JitterOp[] = [];
    for (let j = 10; j < 14; ++j) if (r[j] >= 0) order.push(JITTER_OPS[r[j]]);
    out.push({
      crop: { top: r[0], left: r[1], height: r[2], width: r[3] },
      flip: r[4] === 1,
      jitter: r[5] === 1,
      brightness: r[6],
      contrast: r[7],
      saturation: r[8],
      hue: r[9],
      order,
      grayscale: r[14] === 1,
    });
  }
  return out;
}

function twoViewsArgs(dataset: ImageDataset, indices: ArrayLike<number>, opts: TwoViewsOptions): object {
  if (opts === null || typeof opts !== 'object') throw new MimicError('E_INVALID_ARGUMENT', 'twoViews: options must be an object');
  const { seed, counter, size, threads, returnDraws, ...params } = opts;
  const idx = indices instanceof Int32Array ? indices : Array.from(indices);
  return {
    pixels: dataset.pixels,
    count: dataset.count,
    channels: dataset.channels,
    height: dataset.height,
    width: dataset.width,
    indices: idx,
    seed,
    counter,
    out: size === undefined ? undefined : { size },
    params,
    threads,
    returnDraws,
  };
}

function wrap(raw: RawTwoViews, fields: number): TwoViews {
  const r: TwoViews = { view1: raw.view1, view2: raw.view2, shape: raw.shape };
  if (raw.draws1 && raw.draws2) {
    r.draws1 = decodeDraws(raw.draws1, fields);
    r.draws2 = decodeDraws(raw.draws2, fields);
  }
  return r;
}

/** View 1 and view 2 of dataset[indices[k]] (float32, [n, C, outH, outW] each), synchronously. */
export function twoViews(dataset: ImageDataset, indices: ArrayLike<number>, opts: TwoViewsOptions): TwoViews {
  const a = addon();
  try {
    return wrap(a.twoViews(twoViewsArgs(dataset, indices, opts)), a.drawFields);
  } catch (err) {
    throw fromNative(err);
  }
}

/** As twoViews, on a worker thread (the event loop keeps running), on a copy of the indexed images made at the call. */
export async function twoViewsAsync(dataset: ImageDataset, indices: ArrayLike<number>, opts: TwoViewsOptions): Promise<TwoViews> {
  const a = addon();
  try {
    return wrap(await a.twoViewsAsync(twoViewsArgs(dataset, indices, opts)), a.drawFields);
  } catch (err) {
    throw fromNative(err);
  }
}

/** One image through the pipeline with fixed parameters (for tests and visualisation): C * outH * outW floats. */
export function applyFixed(dataset: ImageDataset, fixed: FixedAugment): Float32Array {
  const a = addon();
  const { size, jitter, ...rest } = fixed;
  let j: object | undefined;
  if (jitter) {
    const order = jitter.order?.map((op, k) => {
      const id = JITTER_OPS.indexOf(op);
      if (id < 0) throw new MimicError('E_INVALID_ARGUMENT', `applyFixed: jitter.order[${k}] = '${String(op)}' is not one of ${JITTER_OPS.join(', ')}`);
      return id;
    });
    j = { ...jitter, order };
  }
  try {
    return a.applyFixed({
      pixels: dataset.pixels,
      count: dataset.count,
      channels: dataset.channels,
      height: dataset.height,
      width: dataset.width,
      out: size === undefined ? undefined : { size },
      jitter: j,
      ...rest,
    });
  } catch (err) {
    throw fromNative(err);
  }
}
