/**
 * NumPy image arrays: a .npy file (images only; labels from a second .npy) or a .npz archive (np.savez or
 * np.savez_compressed) with the images and, optionally, the labels picked by name.
 *
 * Images: uint8, float32 or float64, shaped N x H x W (one channel), N x H x W x C (NHWC) or N x C x H x W
 * (NCHW), C in {1, 3}. The layout is given (`layout`) or inferred: 4-D with the last dimension in {1, 3} and the
 * second not -> NHWC; the second in {1, 3} and the last not -> NCHW; both -> an error asking for `layout`.
 *
 * Float images are converted to uint8 explicitly (`floatRange`):
 *   'unit' : values in [0, 1]   -> round(v * 255)
 *   'byte' : values in [0, 255] -> round(v)
 *   'auto' (default): 'unit' when every value is <= 1, else 'byte'.
 * Rounding is half away from zero (Math.round on non-negative values). Values outside the range (beyond a
 * 1e-4 / 0.5 slack for rounding noise, which is clamped) are an error, never silently clipped: normalised
 * (mean/std) arrays must be de-normalised first. NaN/Inf is an error. Caveat of 'auto': a [0, 255] array whose
 * values are all <= 1 (an almost black image set) reads as [0, 1]; pass floatRange: 'byte' for such data.
 *
 * Labels: a 1-D (N) or N x 1 integer array (uint8, int32, int64 within int32).
 */
import { basename } from 'node:path';
import { unzipSync } from 'fflate';
import { MimicError } from '../errors.ts';
import { parseNpy, type NpyArray } from '../io/npy.ts';
import { readBytes } from './files.ts';
import type { ImageDataset } from './types.ts';

export type ArrayLayout = 'auto' | 'NHWC' | 'NCHW';
export type FloatRange = 'auto' | 'unit' | 'byte';

export interface ArrayImageOptions {
  layout?: ArrayLayout;
  floatRange?: FloatRange;
  name?: string;
}

export interface NpzOptions extends ArrayImageOptions {
  /** Name of the image array in the archive (without '.npy'); default: the first of IMAGE_NAMES present. */
  images?: string;
  /** Name of the label array; false for none; default: the first of LABEL_NAMES present, else none. */
  labels?: string | false;
  /**
   * 'train' / 'test' / ...: try x_<split>, <split>_images, images_<split>, X_<split> (y_<split>, ... for labels)
   * before the default names. Without a split, x_train / train_images (y_train / train_labels) are tried last.
   */
  split?: string;
}

export const IMAGE_NAMES = ['x', 'images', 'X', 'data', 'imgs', 'arr_0'];
export const LABEL_NAMES = ['y', 'labels', 'Y', 'targets', 'label', 'arr_1'];

/** Parses an .npz archive into its arrays, keyed by name without the '.npy' suffix. */
export function parseNpz(buf: Uint8Array, file: string): Map<string, NpyArray> {
  if (buf.length < 4 || buf[0] !== 0x50 || buf[1] !== 0x4b)
    throw new MimicError('E_FORMAT', `${file}: not an .npz archive (no ZIP 'PK' signature)`);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(buf);
  } catch (err) {
    throw new MimicError('E_FORMAT', `${file}: the ZIP archive is corrupt (${(err as Error).message})`, { cause: err });
  }
  const out = new Map<string, NpyArray>();
  for (const [entry, bytes] of Object.entries(entries)) {
    if (!entry.endsWith('.npy')) continue;
    out.set(entry.slice(0, -4), parseNpy(bytes, `${file}:${entry}`));
  }
  if (out.size === 0) throw new MimicError('E_FORMAT', `${file}: the archive holds no .npy arrays`);
  return out;
}

export async function readNpz(file: string): Promise<Map<string, NpyArray>> {
  return parseNpz(await readBytes(file), file);
}

function pick(arrays: Map<string, NpyArray>, candidates: string[]): string | undefined {
  return candidates.find((n) => arrays.has(n));
}

/** Builds a dataset from an image array (and optional label array), converting as the header comment says. */
export function datasetFromArrays(images: NpyArray, labels: NpyArray | undefined, what: string, options: ArrayImageOptions = {}): ImageDataset {
  const layout = options.layout ?? 'auto';
  const floatRange = options.floatRange ?? 'auto';
  if (!['auto', 'NHWC', 'NCHW'].includes(layout))
    throw new MimicError('E_INVALID_ARGUMENT', `layout must be 'auto', 'NHWC' or 'NCHW', got ${JSON.stringify(layout)}`);
  if (!['auto', 'unit', 'byte'].includes(floatRange))
    throw new MimicError('E_INVALID_ARGUMENT', `floatRange must be 'auto', 'unit' or 'byte', got ${JSON.stringify(floatRange)}`);
  const s = images.shape;
  let n: number, c: number, h: number, w: number, nhwc: boolean;
  if (s.length === 3) {
    [n, h, w] = s;
    c = 1;
    nhwc = false;
  } else if (s.length === 4) {
    const lastC = s[3] === 1 || s[3] === 3;
    const secondC = s[1] === 1 || s[1] === 3;
    let l = layout;
    if (l === 'auto') {
      if (lastC && !secondC) l = 'NHWC';
      else if (secondC && !lastC) l = 'NCHW';
      else if (lastC && secondC)
        throw new MimicError('E_INVALID_ARGUMENT', `${what}: shape (${s.join(', ')}) could be NHWC or NCHW: pass layout: 'NHWC' or 'NCHW'`);
      else throw new MimicError('E_SHAPE_MISMATCH', `${what}: shape (${s.join(', ')}) has no channel dimension of 1 or 3 (NHWC or NCHW expected)`);
    }
    nhwc = l === 'NHWC';
    [n, c, h, w] = nhwc ? [s[0], s[3], s[1], s[2]] : [s[0], s[1], s[2], s[3]];
    if (c !== 1 && c !== 3) throw new MimicError('E_SHAPE_MISMATCH', `${what}: ${l} shape (${s.join(', ')}) has ${c} channels, 1 or 3 supported`);
  } else {
    throw new MimicError('E_SHAPE_MISMATCH', `${what}: images must be N x H x W, N x H x W x C or N x C x H x W, got shape (${s.join(', ')})`);
  }
  if (h < 1 || w < 1) throw new MimicError('E_SHAPE_MISMATCH', `${what}: images of ${h}x${w}`);
  const pixels = toUint8(images, what, floatRange);
  const out = nhwc && c > 1 ? nhwcToNchw(pixels, n, h, w, c) : pixels;
  const ds: ImageDataset = { name: options.name ?? what, count: n, channels: c, height: h, width: w, pixels: out, source: what };
  if (labels) ds.labels = labelsFrom(labels, n, what);
  return ds;
}

function toUint8(a: NpyArray, what: string, floatRange: FloatRange): Uint8Array {
  if (a.dtype === 'uint8') return new Uint8Array(a.data as Uint8Array);
  if (a.dtype !== 'float32' && a.dtype !== 'float64')
    throw new MimicError('E_DTYPE', `${what}: images must be uint8, float32 or float64, got ${a.dtype}`);
  const d = a.data as Float32Array | Float64Array;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < d.length; ++i) {
    const v = d[i];
    if (!Number.isFinite(v)) throw new MimicError('E_NON_FINITE', `${what}: element ${i} is ${v}`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = floatRange === 'auto' ? (hi <= 1 ? 'unit' : 'byte') : floatRange;
  const [max, slack] = range === 'unit' ? [1, 1e-4] : [255, 0.5];
  if (d.length > 0 && (lo < -slack || hi > max + slack))
    throw new MimicError(
      'E_FORMAT',
      `${what}: float images span [${lo}, ${hi}], outside [0, ${max}] (${range === 'unit' ? "floatRange 'unit'" : "floatRange 'byte'"}` +
        `${floatRange === 'auto' ? ', chosen automatically' : ''}); normalised data must be mapped back to [0, 1] or [0, 255] first`,
    );
  const k = range === 'unit' ? 255 : 1;
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; ++i) out[i] = Math.min(255, Math.max(0, Math.round(d[i] * k)));
  return out;
}

function nhwcToNchw(src: Uint8Array, n: number, h: number, w: number, c: number): Uint8Array {
  const out = new Uint8Array(src.length);
  const hw = h * w;
  for (let i = 0; i < n; ++i) {
    const base = i * hw * c;
    for (let p = 0; p < hw; ++p) for (let ch = 0; ch < c; ++ch) out[base + ch * hw + p] = src[base + p * c + ch];
  }
  return out;
}

function labelsFrom(a: NpyArray, n: number, what: string): Int32Array {
  const s = a.shape;
  if (!(s.length === 1 || (s.length === 2 && s[1] === 1)))
    throw new MimicError('E_SHAPE_MISMATCH', `${what}: labels must be 1-D (N) or N x 1, got shape (${s.join(', ')})`);
  if (s[0] !== n) throw new MimicError('E_SHAPE_MISMATCH', `${what}: ${n} images but ${s[0]} labels`);
  if (a.dtype === 'int32') return new Int32Array(a.data as Int32Array);
  if (a.dtype === 'uint8') return Int32Array.from(a.data as Uint8Array);
  if (a.dtype === 'int64') {
    const d = a.data as BigInt64Array;
    const out = new Int32Array(d.length);
    for (let i = 0; i < d.length; ++i) {
      if (d[i] > 2147483647n || d[i] < -2147483648n) throw new MimicError('E_FORMAT', `${what}: label ${i} (${d[i]}) does not fit in int32`);
      out[i] = Number(d[i]);
    }
    return out;
  }
  throw new MimicError('E_DTYPE', `${what}: labels must be an integer array (uint8, int32, int64), got ${a.dtype}`);
}

/** Reads images from a .npy file, labels (optional) from another .npy file. */
export async function readNpyImages(file: string, options: ArrayImageOptions & { labels?: string } = {}): Promise<ImageDataset> {
  const images = parseNpy(await readBytes(file), file);
  const labels = options.labels !== undefined ? parseNpy(await readBytes(options.labels), options.labels) : undefined;
  const ds = datasetFromArrays(images, labels, file, { ...options, name: options.name ?? basename(file) });
  if (options.labels !== undefined) ds.source = `${file} + ${options.labels}`;
  return ds;
}

/** Reads images (and labels, when present or named) from an .npz archive. */
export async function readNpzImages(file: string, options: NpzOptions = {}): Promise<ImageDataset> {
  const arrays = await readNpz(file);
  const listing = [...arrays.keys()].join(', ');
  const sp = options.split;
  // With a split, its names come first; without one, the train split's names come last (keras' mnist.npz).
  const imageNames = sp ? [`x_${sp}`, `${sp}_images`, `images_${sp}`, `X_${sp}`, ...IMAGE_NAMES] : [...IMAGE_NAMES, 'x_train', 'train_images'];
  const labelNames = sp ? [`y_${sp}`, `${sp}_labels`, `labels_${sp}`, `Y_${sp}`, ...LABEL_NAMES] : [...LABEL_NAMES, 'y_train', 'train_labels'];
  const imgName = options.images ?? pick(arrays, imageNames);
  if (imgName === undefined || !arrays.has(imgName))
    throw new MimicError(
      options.images !== undefined ? 'E_INVALID_ARGUMENT' : 'E_FORMAT',
      `${file}: ${options.images !== undefined ? `has no array '${options.images}'` : `no image array found (looked for ${imageNames.join(', ')})`}; it holds: ${listing}; pass images: '<name>'`,
    );
  let lblName: string | undefined;
  if (options.labels === false) lblName = undefined;
  else if (options.labels !== undefined) {
    if (!arrays.has(options.labels))
      throw new MimicError('E_INVALID_ARGUMENT', `${file}: has no array '${options.labels}'; it holds: ${listing}`);
    lblName = options.labels;
  } else lblName = pick(arrays, labelNames.filter((n) => n !== imgName));
  const what = `${file}:${imgName}`;
  const ds = datasetFromArrays(arrays.get(imgName)!, lblName ? arrays.get(lblName) : undefined, what, {
    ...options,
    name: options.name ?? `${basename(file)}:${imgName}`,
  });
  ds.source = lblName ? `${file} (${imgName}, ${lblName})` : `${file} (${imgName})`;
  return ds;
}
