/**
 * Seeded perturbation families for perturbation-invariant distillation, run natively (semantics and random scheme:
 * native/include/mimic/perturb.h). In MIMIC backdoor removal the student sees a perturbed copy of augmented view 1
 * while the teacher's targets come from the unperturbed view 1, so small patches, blends and high-frequency noise
 * must not move the student's features (this defeats trigger re-learning).
 *
 * `views` are normalised images (x - mean) / std as twoViews makes them. A NEW array is returned (the input is
 * untouched). Per image, independently: an image none of whose families fire is copied bit for bit; otherwise it is
 * denormalised to [0, 1] pixel space (in double) and, in this order,
 *   1. blend (probability blend.rate, n > 1 only): x = (1 - a) x + a x_p, a ~ U[alphaMin, alphaMax], partner
 *      p = (k + 1 + floor(u (n - 1))) % n != k, using the partner's UNPERTURBED pixels;
 *   2. patch (probability patch.rate): `count` squares (one after another), side uniform integer in [sizeMin,
 *      sizeMax], uniformly placed fully inside the image, filled gray (one level U[0,1) on all channels), color (one
 *      level per channel), texture (U[0,1) per pixel and channel), or mixed (one of the three uniformly per square);
 *   3. noise (probability noise.rate): uniform (U[-sigma, sigma) per pixel and channel) or checker (+/-sigma on all
 *      channels, sign + where floor((y + phaseY) / period) + floor((x + phaseX) / period) is even, period 1 or 2 px,
 *      phases uniform in [0, 2 period)); 'mixed' picks one of the two with probability 1/2;
 * then clamped to [0, 1] and renormalised to float32.
 *
 * Determinism: image k draws from a counter-based stream keyed by (seed, counter, k) in a domain separate from
 * augment's (independent of the views made with the same seed/counter); the output is identical for any thread
 * count. Use the training step as `counter`.
 */
import { fromNative, MimicError } from '../errors.ts';
import { native } from '../native.ts';
import type { AugmentNormalize } from './augment.ts';

export type PatchFill = 'gray' | 'color' | 'texture';
export type NoiseKind = 'uniform' | 'checker';

export interface PerturbParams {
  patch?: {
    rate: number;
    /** Square side range in px. Defaults: sizeMax min(12, side), sizeMin min(4, sizeMax); side = min(H, W). */
    sizeMin?: number;
    sizeMax?: number;
    /** Default 'mixed' (one of gray / color / texture, uniformly, per square). */
    fill?: PatchFill | 'mixed';
    /** Squares per perturbed image. Default 1 (at most 1024). */
    count?: number;
  };
  blend?: { rate: number; alphaMin?: number /* default 0.1 */; alphaMax?: number /* default 0.3 */ };
  noise?: {
    rate: number;
    /** In [0, 1] pixel units. Default 0.1. */
    sigma?: number;
    /** Default 'uniform'; 'mixed' picks uniform or checker with probability 1/2 per image. */
    kind?: NoiseKind | 'mixed';
  };
}

export interface PerturbOptions extends PerturbParams {
  seed: number;
  /** The step (or any counter): different counters give independent perturbations. */
  counter: number;
  /** The normalisation of the views (undone before perturbing, redone after). */
  normalize: AugmentNormalize;
  /** 0 = the engine's pool size. */
  threads?: number;
  /** Also return each image's random choices. */
  returnDraws?: boolean;
}

export interface PerturbPatch {
  top: number;
  left: number;
  size: number;
  fill: PatchFill;
  /** gray: one level repeated per channel; color: one level per channel; texture: empty (values from the stream). */
  level: number[];
}

export interface PerturbDraw {
  /** The image's 64-bit stream key, 16 hex digits (texture and uniform-noise values come from it). */
  key: string;
  /** null when blend did not fire. */
  blend: { partner: number; alpha: number } | null;
  /** Empty when patch did not fire. */
  patches: PerturbPatch[];
  /** null when noise did not fire; period / phases are 0 for uniform noise. */
  noise: { kind: NoiseKind; sigma: number; period: number; phaseY: number; phaseX: number } | null;
}

export interface PerturbResult {
  images: Float32Array;
  draws?: PerturbDraw[];
}

export type PerturbShape = [number, number, number, number];

interface NativePerturb {
  batch(args: object): RawResult;
  batchAsync(args: object): Promise<RawResult>;
  baseFields: number;
  patchFields: number;
}
interface RawResult {
  images: Float32Array;
  draws?: Float64Array;
  drawFields: number;
}

const FILLS: PatchFill[] = ['gray', 'color', 'texture'];
const KINDS: NoiseKind[] = ['uniform', 'checker'];

function addon(): NativePerturb {
  const a = (native() as unknown as { perturb?: NativePerturb }).perturb;
  if (!a) throw new MimicError('E_NATIVE_LOAD', 'the native engine was built without perturb; rebuild it (npm run build)');
  return a;
}

function hex32(v: number): string {
  return v.toString(16).padStart(8, '0');
}

function decodeDraws(raw: Float64Array, fields: number, a: NativePerturb, channels: number): PerturbDraw[] {
  const out: PerturbDraw[] = [];
  const count = (fields - a.baseFields) / a.patchFields;
  for (let k = 0; k * fields < raw.length; ++k) {
    const r = raw.subarray(k * fields, (k + 1) * fields);
    const patches: PerturbPatch[] = [];
    if (r[5] === 1)
      for (let j = 0; j < count; ++j) {
        const q = r.subarray(a.baseFields + j * a.patchFields, a.baseFields + (j + 1) * a.patchFields);
        const fill = FILLS[q[3]];
        patches.push({ top: q[0], left: q[1], size: q[2], fill, level: fill === 'texture' ? [] : Array.from(q.subarray(4, 4 + channels)) });
      }
    out.push({
      key: hex32(r[0]) + hex32(r[1]),
      blend: r[2] === 1 ? { partner: r[3], alpha: r[4] } : null,
      patches,
      noise:
        r[6] === 1
          ? { kind: KINDS[r[7]], sigma: r[11], period: r[7] === 1 ? r[8] : 0, phaseY: r[7] === 1 ? r[9] : 0, phaseX: r[7] === 1 ? r[10] : 0 }
          : null,
    });
  }
  return out;
}

function args(views: Float32Array, shape: PerturbShape, opts: PerturbOptions): object {
  if (opts === null || typeof opts !== 'object') throw new MimicError('E_INVALID_ARGUMENT', 'perturbBatch: options must be an object');
  return { views, shape: Array.isArray(shape) ? [...shape] : shape, ...opts };
}

function wrap(raw: RawResult, a: NativePerturb, shape: PerturbShape): PerturbResult {
  const r: PerturbResult = { images: raw.images };
  if (raw.draws) r.draws = decodeDraws(raw.draws, raw.drawFields, a, shape[1]);
  return r;
}

/** Perturbs the n normalised images of `views` ([n, C, H, W] float32) into a new array, synchronously. */
export function perturbBatch(views: Float32Array, shape: PerturbShape, opts: PerturbOptions): PerturbResult {
  const a = addon();
  try {
    return wrap(a.batch(args(views, shape, opts)), a, shape);
  } catch (err) {
    throw fromNative(err);
  }
}

/** As perturbBatch, on a worker thread (the event loop keeps running), on a copy of `views` made at the call. */
export async function perturbBatchAsync(views: Float32Array, shape: PerturbShape, opts: PerturbOptions): Promise<PerturbResult> {
  const a = addon();
  try {
    return wrap(await a.batchAsync(args(views, shape, opts)), a, shape);
  } catch (err) {
    throw fromNative(err);
  }
}
