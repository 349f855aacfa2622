/**
 * Batching: uint8 CHW images -> float32 NCHW model input. Per image, in this order:
 *   1. scale uint8 to [0, 1] (v / 255);
 *   2. channels: equal -> as is; otherwise `channelMode: 'convert'` replicates gray to RGB (1 -> 3) or takes the
 *      luminance 0.299 R + 0.587 G + 0.114 B (3 -> 1, ITU-R BT.601, as PIL's convert('L') but without rounding);
 *      the default 'error' refuses;
 *   3. size: equal -> as is; `size: 'pad'` places the image centred (top = floor((H - h) / 2), left likewise) on
 *      black (0 before normalisation, as torchvision's Pad on the uint8 image), and refuses images larger than
 *      the target; `size: 'resize'` is bilinear with half-pixel centres, no antialiasing (= PyTorch
 *      F.interpolate(mode='bilinear', align_corners=False) on the [0, 1] tensor); the default 'error' refuses;
 *   4. normalise per channel: (x - mean[c]) / std[c] ('none' by default; 'cifar10' preset; or explicit arrays),
 *      padding included.
 */
import { MimicError } from '../errors.ts';
import { mulberry32 } from '../util/rng.ts';
import type { ImageDataset } from './types.ts';
import { optionNames } from '../util/options.ts';

export type SizeMode = 'error' | 'pad' | 'resize';
export type ChannelMode = 'error' | 'convert';
export interface Normalization {
  mean: number[];
  std: number[];
}
export const NORMALIZATION_PRESETS = {
  none: undefined,
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] },
} as const satisfies Record<string, Normalization | undefined>;
export type NormalizationPreset = keyof typeof NORMALIZATION_PRESETS;

/** The image options of the library calls (`transform`). */
export const TRANSFORM_OPTIONS = optionNames<Omit<BatchSpec, 'channels' | 'height' | 'width'>>({ normalize: true, size: true, channelMode: true });

export interface BatchSpec {
  /** The model input: channels (1 or 3), height, width. */
  channels: number;
  height: number;
  width: number;
  /** When the dataset's H x W differs from the model's. Default 'error'. */
  size?: SizeMode;
  /** When the channel counts differ (1 <-> 3). Default 'error'. */
  channelMode?: ChannelMode;
  /** Default 'none'. */
  normalize?: NormalizationPreset | Normalization;
}

export const LUMINANCE = [0.299, 0.587, 0.114] as const;

/** A spec checked against a dataset's image shape, with the resize tables computed once. */
export interface BatchPlan {
  readonly spec: Required<Pick<BatchSpec, 'channels' | 'height' | 'width' | 'size' | 'channelMode'>>;
  readonly source: { channels: number; height: number; width: number };
  /** Per output channel: weights over the source channels. */
  readonly mix: Float64Array[];
  readonly mean: Float64Array;
  readonly invStd: Float64Array;
  readonly geometry: 'same' | 'pad' | 'resize';
  readonly top: number;
  readonly left: number;
  readonly ry?: ResizeTable;
  readonly rx?: ResizeTable;
  /** Floats per image in the output (C * H * W). */
  readonly imageLength: number;
}

interface ResizeTable {
  i0: Int32Array;
  i1: Int32Array;
  w1: Float64Array;
}

/** Bilinear source coordinates for align_corners = False (PyTorch's rule: clamp negatives to 0). */
export function resizeTable(inSize: number, outSize: number): ResizeTable {
  const scale = inSize / outSize;
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), w1 = new Float64Array(outSize);
  for (let o = 0; o < outSize; ++o) {
    const src = Math.max(0, (o + 0.5) * scale - 0.5);
    const a = Math.min(Math.floor(src), inSize - 1);
    i0[o] = a;
    i1[o] = a < inSize - 1 ? a + 1 : a;
    w1[o] = src - a;
  }
  return { i0, i1, w1 };
}

function posInt(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) < 1) throw new MimicError('E_INVALID_ARGUMENT', `batch spec ${what} must be a positive integer, got ${v}`);
  return v as number;
}

/** Checks a spec against the dataset's image shape; throws typed errors naming the mismatch and the option. */
export function planBatch(ds: Pick<ImageDataset, 'name' | 'channels' | 'height' | 'width'>, spec: BatchSpec): BatchPlan {
  const C = posInt(spec.channels, 'channels'), H = posInt(spec.height, 'height'), W = posInt(spec.width, 'width');
  const size = spec.size ?? 'error';
  const channelMode = spec.channelMode ?? 'error';
  if (!['error', 'pad', 'resize'].includes(size)) throw new MimicError('E_INVALID_ARGUMENT', `batch spec size must be 'error', 'pad' or 'resize', got ${JSON.stringify(size)}`);
  if (!['error', 'convert'].includes(channelMode))
    throw new MimicError('E_INVALID_ARGUMENT', `batch spec channelMode must be 'error' or 'convert', got ${JSON.stringify(channelMode)}`);
  const c = ds.channels, h = ds.height, w = ds.width;
  // Channel mixing weights.
  const mix: Float64Array[] = [];
  if (c === C) for (let k = 0; k < C; ++k) mix.push(Float64Array.from({ length: c }, (_, j) => (j === k ? 1 : 0)));
  else {
    if (channelMode === 'error')
      throw new MimicError('E_SHAPE_MISMATCH', `${ds.name} has ${c}-channel images but the model takes ${C}: convert them (CLI --convert-channels; library channelMode: 'convert')`);
    if (c === 1 && C === 3) for (let k = 0; k < 3; ++k) mix.push(Float64Array.of(1));
    else if (c === 3 && C === 1) mix.push(Float64Array.from(LUMINANCE));
    else throw new MimicError('E_SHAPE_MISMATCH', `${ds.name}: cannot convert ${c} channels to ${C} (only 1 <-> 3)`);
  }
  // Geometry.
  let geometry: BatchPlan['geometry'] = 'same';
  let top = 0, left = 0, ry: ResizeTable | undefined, rx: ResizeTable | undefined;
  if (h !== H || w !== W) {
    if (size === 'error')
      throw new MimicError('E_SHAPE_MISMATCH', `${ds.name} has ${h}x${w} images but the model takes ${H}x${W}: pad or resize them (CLI --resize pad|resize; library size: 'pad' | 'resize')`);
    if (size === 'pad') {
      if (h > H || w > W)
        throw new MimicError('E_SHAPE_MISMATCH', `${ds.name}: size 'pad' cannot fit ${h}x${w} images into ${H}x${W}: resize them instead (CLI --resize resize; library size: 'resize')`);
      geometry = 'pad';
      top = Math.floor((H - h) / 2);
      left = Math.floor((W - w) / 2);
    } else {
      geometry = 'resize';
      ry = resizeTable(h, H);
      rx = resizeTable(w, W);
    }
  }
  // Normalisation.
  const nz = spec.normalize ?? 'none';
  let norm: Normalization | undefined;
  if (typeof nz === 'string') {
    if (!(nz in NORMALIZATION_PRESETS))
      throw new MimicError('E_INVALID_ARGUMENT', `normalize preset must be one of ${Object.keys(NORMALIZATION_PRESETS).join(', ')} or { mean, std }, got ${JSON.stringify(nz)}`);
    norm = NORMALIZATION_PRESETS[nz as NormalizationPreset];
  } else norm = nz;
  const mean = new Float64Array(C), invStd = new Float64Array(C).fill(1);
  if (norm) {
    if (!Array.isArray(norm.mean) || !Array.isArray(norm.std) || norm.mean.length !== C || norm.std.length !== C)
      throw new MimicError(
        'E_SHAPE_MISMATCH',
        `normalize${typeof nz === 'string' ? ` '${nz}'` : ''} has ${norm.mean?.length}/${norm.std?.length} mean/std values but the model takes ${C} channels`,
      );
    for (let k = 0; k < C; ++k) {
      if (!Number.isFinite(norm.mean[k]) || !(norm.std[k] > 0) || !Number.isFinite(norm.std[k]))
        throw new MimicError('E_INVALID_ARGUMENT', `normalize channel ${k}: mean must be finite and std finite and > 0, got ${norm.mean[k]} / ${norm.std[k]}`);
      mean[k] = norm.mean[k];
      invStd[k] = 1 / norm.std[k];
    }
  }
  return {
    spec: { channels: C, height: H, width: W, size, channelMode },
    source: { channels: c, height: h, width: w },
    mix, mean, invStd, geometry, top, left, ry, rx,
    imageLength: C * H * W,
  };
}

function isPlan(x: BatchSpec | BatchPlan): x is BatchPlan {
  return (x as BatchPlan).mix !== undefined && (x as BatchPlan).imageLength !== undefined;
}

/**
 * Images `indices` of the dataset as one float32 NCHW batch (indices.length x C x H x W). `spec` may be a plan
 * from planBatch (checked once, reused); `out` (optional) is filled instead of a new array.
 */
export function makeBatch(ds: ImageDataset, indices: ArrayLike<number>, spec: BatchSpec | BatchPlan, out?: Float32Array): Float32Array {
  const plan = isPlan(spec) ? spec : planBatch(ds, spec);
  const { channels: c, height: h, width: w } = plan.source;
  if (c !== ds.channels || h !== ds.height || w !== ds.width)
    throw new MimicError('E_SHAPE_MISMATCH', `the batch plan was made for ${c}x${h}x${w} images, ${ds.name} has ${ds.channels}x${ds.height}x${ds.width}`);
  const L = plan.imageLength;
  const need = indices.length * L;
  if (out && out.length < need) throw new MimicError('E_SHAPE_MISMATCH', `out holds ${out.length} floats, the batch needs ${need}`);
  const dst = out ?? new Float32Array(need);
  const { channels: C, height: H, width: W } = plan.spec;
  const hw = h * w, HW = H * W, srcLen = c * hw;
  const plane = new Float64Array(hw);
  for (let b = 0; b < indices.length; ++b) {
    const i = indices[b];
    if (!Number.isInteger(i) || i < 0 || i >= ds.count)
      throw new MimicError('E_INVALID_ARGUMENT', `indices[${b}] = ${i} is not an image of ${ds.name} (0..${ds.count - 1})`);
    const src = ds.pixels.subarray(i * srcLen, (i + 1) * srcLen);
    for (let k = 0; k < C; ++k) {
      // 1 + 2: scaled, mixed source plane.
      const m = plan.mix[k];
      if (m.length === 1 || c === 1) {
        const s = m[0] / 255;
        for (let p = 0; p < hw; ++p) plane[p] = src[p] * s;
      } else {
        plane.fill(0);
        for (let j = 0; j < c; ++j) {
          if (m[j] === 0) continue;
          const s = m[j] / 255, off = j * hw;
          for (let p = 0; p < hw; ++p) plane[p] += src[off + p] * s;
        }
      }
      // 3 + 4: geometry and normalisation into the output plane.
      const o = b * L + k * HW, mu = plan.mean[k], is = plan.invStd[k];
      if (plan.geometry === 'same') {
        for (let p = 0; p < HW; ++p) dst[o + p] = (plane[p] - mu) * is;
      } else if (plan.geometry === 'pad') {
        dst.fill((0 - mu) * is, o, o + HW);
        for (let y = 0; y < h; ++y) {
          const row = o + (y + plan.top) * W + plan.left;
          for (let x = 0; x < w; ++x) dst[row + x] = (plane[y * w + x] - mu) * is;
        }
      } else {
        const ry = plan.ry!, rx = plan.rx!;
        for (let y = 0; y < H; ++y) {
          const r0 = ry.i0[y] * w, r1 = ry.i1[y] * w, wy = ry.w1[y];
          for (let x = 0; x < W; ++x) {
            const x0 = rx.i0[x], x1 = rx.i1[x], wx = rx.w1[x];
            const top = plane[r0 + x0] + (plane[r0 + x1] - plane[r0 + x0]) * wx;
            const bot = plane[r1 + x0] + (plane[r1 + x1] - plane[r1 + x0]) * wx;
            dst[o + y * W + x] = (top + (bot - top) * wy - mu) * is;
          }
        }
      }
    }
  }
  return dst;
}

export interface BatchIteratorOptions {
  batchSize: number;
  /** Which images (default: all, in order). */
  indices?: ArrayLike<number>;
  /** Shuffle the order with mulberry32(seed) (Fisher-Yates) before batching; default: no shuffle. */
  seed?: number;
  /** Drop a last, short batch. Default false. */
  dropLast?: boolean;
}

export interface Batch {
  /** 0, 1, ... */
  batch: number;
  /** The dataset indices in this batch, in batch order. */
  indices: Int32Array;
  /** indices.length x C x H x W, float32 NCHW. */
  data: Float32Array;
  labels?: Int32Array;
  /** [N, C, H, W] of `data`. */
  shape: [number, number, number, number];
}

/** Iterates over batches (each with a fresh Float32Array); the spec is checked before the first batch. */
export function* batches(ds: ImageDataset, spec: BatchSpec | BatchPlan, options: BatchIteratorOptions): Generator<Batch> {
  const plan = isPlan(spec) ? spec : planBatch(ds, spec);
  const bs = options.batchSize;
  if (!Number.isInteger(bs) || bs < 1) throw new MimicError('E_INVALID_ARGUMENT', `batchSize must be a positive integer, got ${bs}`);
  const order = options.indices ? Int32Array.from(options.indices) : Int32Array.from({ length: ds.count }, (_, i) => i);
  if (options.seed !== undefined) {
    if (!Number.isInteger(options.seed)) throw new MimicError('E_INVALID_ARGUMENT', `seed must be an integer, got ${options.seed}`);
    const rng = mulberry32(options.seed);
    for (let i = order.length - 1; i > 0; --i) {
      const j = Math.floor(rng() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  }
  const { channels: C, height: H, width: W } = plan.spec;
  for (let start = 0, k = 0; start < order.length; start += bs, ++k) {
    const idx = order.subarray(start, Math.min(order.length, start + bs));
    if (idx.length < bs && options.dropLast) break;
    const indices = Int32Array.from(idx);
    const out: Batch = { batch: k, indices, data: makeBatch(ds, indices, plan), shape: [indices.length, C, H, W] };
    if (ds.labels) out.labels = Int32Array.from(indices, (i) => ds.labels![i]);
    yield out;
  }
}
