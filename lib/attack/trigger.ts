/**
 * Backdoor triggers, for the attack simulator and for evaluation only (never for cleaning). Every trigger resolves,
 * for a given image layout (C, H, W), to a per-pixel mask m in [0, 1] and a pattern p (uint8), and is applied to
 * uint8 images before normalisation, as BadEncoder does:  x' = round((1 - m) x + m p).
 *
 * Spec strings (CLI --trigger):
 *   white:10@21,21        a solid square patch: VALUE:SIZE@ROW,COL, VALUE white | black | 0..255
 *   png:t.png             an image trigger of the input's size; its alpha (or a mask) says where it applies
 *   png:t.png+mask.png    ... with a gray mask PNG (0 = keep the image, 255 = the trigger)
 *   blend:noise@0.15      a fixed uniform-noise image (seed 0) blended over the whole image at alpha 0.15
 *   blend:noise@0.15:7    ... noise seed 7
 *   blend:t.png@0.2       a PNG blended at alpha 0.2
 */
import { readFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import { MimicError, invalid } from '../errors.ts';
import type { ImageDataset } from '../data/types.ts';
import { mulberry32 } from '../util/rng.ts';

export type Trigger =
  | { kind: 'patch'; value: number; size: number; row: number; col: number }
  | { kind: 'png'; file: string; mask?: string }
  | { kind: 'blend'; source: 'noise'; alpha: number; seed: number }
  | { kind: 'blend'; source: string; alpha: number };

/** The trigger laid out for one image shape: mask (C*H*W, in [0, 1]) and pattern (C*H*W uint8). */
export interface ResolvedTrigger {
  spec: string;
  channels: number;
  height: number;
  width: number;
  mask: Float32Array;
  pattern: Uint8Array;
}

const PATCH = /^(white|black|\d{1,3}):(\d+)@(\d+),(\d+)$/;

export function parseTriggerSpec(spec: string): Trigger {
  const s = String(spec).trim();
  const m = PATCH.exec(s);
  if (m) {
    const value = m[1] === 'white' ? 255 : m[1] === 'black' ? 0 : Number(m[1]);
    if (value > 255) throw invalid(`trigger '${spec}': value ${value} is above 255`);
    const size = Number(m[2]);
    if (size < 1) throw invalid(`trigger '${spec}': size must be >= 1`);
    return { kind: 'patch', value, size, row: Number(m[3]), col: Number(m[4]) };
  }
  if (s.startsWith('png:')) {
    const [file, mask] = s.slice(4).split('+');
    if (!file) throw invalid(`trigger '${spec}': png:FILE[+MASK] needs a file`);
    return mask ? { kind: 'png', file, mask } : { kind: 'png', file };
  }
  const b = /^blend:([^@]+)@([0-9.]+)(?::(\d+))?$/.exec(s);
  if (b) {
    const alpha = Number(b[2]);
    if (!(alpha > 0 && alpha <= 1)) throw invalid(`trigger '${spec}': alpha must be in (0, 1] (got ${b[2]})`);
    if (b[1] === 'noise') return { kind: 'blend', source: 'noise', alpha, seed: b[3] === undefined ? 0 : Number(b[3]) };
    if (b[3] !== undefined) throw invalid(`trigger '${spec}': a seed only applies to blend:noise`);
    return { kind: 'blend', source: b[1], alpha };
  }
  throw invalid(`trigger '${spec}' is not one of: VALUE:SIZE@ROW,COL (e.g. white:10@21,21), png:FILE[+MASK], blend:noise@ALPHA[:SEED], blend:FILE@ALPHA`);
}

export function formatTrigger(t: Trigger): string {
  if (t.kind === 'patch') return `${t.value === 255 ? 'white' : t.value === 0 ? 'black' : t.value}:${t.size}@${t.row},${t.col}`;
  if (t.kind === 'png') return `png:${t.file}${t.mask ? '+' + t.mask : ''}`;
  return t.source === 'noise' ? `blend:noise@${t.alpha}:${(t as { seed: number }).seed}` : `blend:${t.source}@${t.alpha}`;
}

async function readPng(file: string, what: string): Promise<PNG> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new MimicError('E_FILE', `${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return PNG.sync.read(buf);
  } catch (err) {
    throw new MimicError('E_FORMAT', `${what} ${file}: not a readable PNG (${(err as Error).message})`, { cause: err });
  }
}

/** A PNG's pixels as C planes (gray from luminance when C = 1); size must match. */
function pngPlanes(png: PNG, c: number, h: number, w: number, file: string): Uint8Array {
  if (png.width !== w || png.height !== h) throw new MimicError('E_SHAPE_MISMATCH', `trigger ${file} is ${png.width}x${png.height}; the images are ${w}x${h}`);
  const out = new Uint8Array(c * h * w);
  for (let p = 0; p < h * w; ++p) {
    const r = png.data[4 * p], g = png.data[4 * p + 1], b = png.data[4 * p + 2];
    if (c === 1) out[p] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else for (let ch = 0; ch < c; ++ch) out[ch * h * w + p] = png.data[4 * p + Math.min(ch, 2)];
  }
  return out;
}

/** Lays the trigger out for images of C x H x W (reads PNGs). Errors name the trigger and the mismatch. */
export async function resolveTrigger(t: Trigger | string, shape: { channels: number; height: number; width: number }): Promise<ResolvedTrigger> {
  const trig = typeof t === 'string' ? parseTriggerSpec(t) : t;
  const { channels: c, height: h, width: w } = shape;
  const n = c * h * w;
  const mask = new Float32Array(n);
  const pattern = new Uint8Array(n);
  if (trig.kind === 'patch') {
    if (trig.row + trig.size > h || trig.col + trig.size > w)
      throw invalid(`trigger ${formatTrigger(trig)}: the patch does not fit in ${h}x${w} images`);
    for (let ch = 0; ch < c; ++ch)
      for (let y = trig.row; y < trig.row + trig.size; ++y)
        for (let x = trig.col; x < trig.col + trig.size; ++x) {
          mask[(ch * h + y) * w + x] = 1;
          pattern[(ch * h + y) * w + x] = trig.value;
        }
  } else if (trig.kind === 'png') {
    const png = await readPng(trig.file, 'trigger');
    pattern.set(pngPlanes(png, c, h, w, trig.file));
    if (trig.mask) {
      const mp = await readPng(trig.mask, 'trigger mask');
      const m = pngPlanes(mp, 1, h, w, trig.mask);
      for (let ch = 0; ch < c; ++ch) for (let p = 0; p < h * w; ++p) mask[ch * h * w + p] = m[p] / 255;
    } else for (let ch = 0; ch < c; ++ch) for (let p = 0; p < h * w; ++p) mask[ch * h * w + p] = png.data[4 * p + 3] / 255;
  } else {
    mask.fill(trig.alpha);
    if (trig.source === 'noise') {
      const r = mulberry32(((trig as { seed: number }).seed ^ 0x7a11) >>> 0);
      for (let i = 0; i < n; ++i) pattern[i] = Math.floor(r() * 256);
    } else pattern.set(pngPlanes(await readPng(trig.source, 'trigger'), c, h, w, trig.source));
  }
  return { spec: formatTrigger(trig), channels: c, height: h, width: w, mask, pattern };
}

/** Stamps image i of `pixels` (C*H*W uint8 each) in place. */
export function stampImage(pixels: Uint8Array, offset: number, t: ResolvedTrigger): void {
  const n = t.mask.length;
  for (let k = 0; k < n; ++k) {
    const m = t.mask[k];
    if (m === 0) continue;
    const v = (1 - m) * pixels[offset + k] + m * t.pattern[k];
    pixels[offset + k] = Math.max(0, Math.min(255, Math.round(v)));
  }
}

/** A copy of the dataset (or of the chosen images) with the trigger applied; labels are kept. */
export function applyTrigger(ds: ImageDataset, t: ResolvedTrigger, indices?: ArrayLike<number>): ImageDataset {
  if (ds.channels !== t.channels || ds.height !== t.height || ds.width !== t.width)
    throw new MimicError('E_SHAPE_MISMATCH', `trigger ${t.spec} is laid out for ${t.channels}x${t.height}x${t.width}; ${ds.name} is ${ds.channels}x${ds.height}x${ds.width}`);
  const per = t.mask.length;
  const idx = indices ?? Array.from({ length: ds.count }, (_, i) => i);
  const pixels = new Uint8Array(idx.length * per);
  const labels = ds.labels ? new Int32Array(idx.length) : undefined;
  for (let k = 0; k < idx.length; ++k) {
    const i = idx[k];
    pixels.set(ds.pixels.subarray(i * per, (i + 1) * per), k * per);
    stampImage(pixels, k * per, t);
    if (labels) labels[k] = ds.labels![i];
  }
  return { ...ds, name: `${ds.name} + trigger ${t.spec}`, count: idx.length, pixels, labels };
}
