/**
 * Backdoor triggers, for the attack simulator and for evaluation only (never for cleaning). Every trigger resolves,
 * for a given image layout (C, H, W), to a per-pixel mask m in [0, 1], a pattern p (uint8) and an optional additive
 * delta d, and is applied to uint8 images before normalisation, as BadEncoder does:
 *   x' = clamp(round((1 - m) x + m p + d), 0, 255).
 *
 * Spec strings (CLI --trigger):
 *   white:10@21,21        a solid square patch: VALUE:SIZE@ROW,COL, VALUE white | black | 0..255
 *   png:t.png             an image trigger of the input's size; its alpha (or a mask) says where it applies
 *   png:t.png+mask.png    ... with a gray mask PNG (0 = keep the image, 255 = the trigger)
 *   blend:noise@0.15      a fixed uniform-noise image (seed 0) blended over the whole image at alpha 0.15
 *   blend:noise@0.15:7    ... noise seed 7
 *   blend:t.png@0.2       a PNG blended at alpha 0.2
 *   freq:100              a CTRL-style frequency trigger (Li et al., 2023): in the image's YCbCr form, the
 *                         orthonormal 2-D DCT coefficients (H-1, W-1) and (H/2-1, W/2-1) of Cb and Cr are raised by
 *                         100, i.e. a fixed additive high-frequency pattern; on gray images (C = 1) the luminance
 *   freq:50@31,31+15,15   ... magnitude 50 at the listed (row, column) frequencies
 */
import { readFile } from 'node:fs/promises';
import { PNG } from 'pngjs';
import { pngProblem } from '../data/png.ts';
import { MimicError, invalid } from '../errors.ts';
import type { ImageDataset } from '../data/types.ts';
import { mulberry32 } from '../util/rng.ts';

export type Trigger =
  | { kind: 'patch'; value: number; size: number; row: number; col: number }
  | { kind: 'png'; file: string; mask?: string }
  | { kind: 'blend'; source: 'noise'; alpha: number; seed: number }
  | { kind: 'blend'; source: string; alpha: number }
  | { kind: 'freq'; magnitude: number; positions?: [number, number][] };

/** The trigger laid out for one image shape: mask (C*H*W, in [0, 1]) and pattern (C*H*W uint8). */
export interface ResolvedTrigger {
  spec: string;
  channels: number;
  height: number;
  width: number;
  mask: Float32Array;
  pattern: Uint8Array;
  /** Added after the mask step (frequency triggers); absent for the others. */
  delta?: Float32Array;
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
  const f = /^freq:([0-9.]+)(?:@(\d+,\d+(?:\+\d+,\d+)*))?$/.exec(s);
  if (f) {
    const magnitude = Number(f[1]);
    if (!(magnitude > 0 && Number.isFinite(magnitude))) throw invalid(`trigger '${spec}': the magnitude must be a positive number (got ${f[1]})`);
    if (!f[2]) return { kind: 'freq', magnitude };
    const positions = f[2].split('+').map((p) => p.split(',').map(Number) as [number, number]);
    return { kind: 'freq', magnitude, positions };
  }
  throw invalid(`trigger '${spec}' is not one of: VALUE:SIZE@ROW,COL (e.g. white:10@21,21), png:FILE[+MASK], blend:noise@ALPHA[:SEED], blend:FILE@ALPHA, freq:MAGNITUDE[@U,V[+U,V...]]`);
}

export function formatTrigger(t: Trigger): string {
  if (t.kind === 'patch') return `${t.value === 255 ? 'white' : t.value === 0 ? 'black' : t.value}:${t.size}@${t.row},${t.col}`;
  if (t.kind === 'png') return `png:${t.file}${t.mask ? '+' + t.mask : ''}`;
  if (t.kind === 'freq') return `freq:${t.magnitude}${t.positions ? '@' + t.positions.map((p) => p.join(',')).join('+') : ''}`;
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
    throw new MimicError('E_FORMAT', `${what} ${file}: not a readable PNG (${pngProblem(buf)})`, { cause: err });
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
  } else if (trig.kind === 'freq') {
    return { spec: formatTrigger(trig), channels: c, height: h, width: w, mask, pattern, delta: frequencyDelta(trig, c, h, w) };
  } else {
    mask.fill(trig.alpha);
    if (trig.source === 'noise') {
      const r = mulberry32(((trig as { seed: number }).seed ^ 0x7a11) >>> 0);
      for (let i = 0; i < n; ++i) pattern[i] = Math.floor(r() * 256);
    } else pattern.set(pngPlanes(await readPng(trig.source, 'trigger'), c, h, w, trig.source));
  }
  return { spec: formatTrigger(trig), channels: c, height: h, width: w, mask, pattern };
}

// JPEG (full-range) YCbCr -> RGB: how a unit change of Cb and of Cr moves R, G and B.
const CB_TO_RGB = [0, -0.344136, 1.772];
const CR_TO_RGB = [1.402, -0.714136, 0];

/**
 * The additive pixel pattern of a frequency trigger: the inverse orthonormal 2-D DCT of `magnitude` at each listed
 * frequency, added to Cb and Cr (CTRL's channels) and mapped to RGB (linear, so it is image-independent); on gray
 * images it is added to the one channel. The default frequencies are CTRL's for 32x32 windows: (31,31), (15,15).
 */
function frequencyDelta(t: Extract<Trigger, { kind: 'freq' }>, c: number, h: number, w: number): Float32Array {
  if (c !== 1 && c !== 3) throw invalid(`trigger ${formatTrigger(t)}: frequency triggers need 1 (gray) or 3 (RGB) channels; the images have ${c}`);
  const positions = t.positions ?? [[h - 1, w - 1], [Math.floor(h / 2) - 1, Math.floor(w / 2) - 1]];
  for (const [u, v] of positions)
    if (!(u >= 0 && u < h && v >= 0 && v < w)) throw invalid(`trigger ${formatTrigger(t)}: frequency (${u},${v}) is outside the ${h}x${w} DCT of the images`);
  const plane = new Float64Array(h * w);
  const alpha = (k: number, n: number) => Math.sqrt((k === 0 ? 1 : 2) / n);
  for (const [u, v] of positions) {
    const a = t.magnitude * alpha(u, h) * alpha(v, w);
    for (let y = 0; y < h; ++y) {
      const cy = Math.cos((Math.PI * (2 * y + 1) * u) / (2 * h));
      for (let x = 0; x < w; ++x) plane[y * w + x] += a * cy * Math.cos((Math.PI * (2 * x + 1) * v) / (2 * w));
    }
  }
  const delta = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ++ch) {
    const gain = c === 1 ? 1 : CB_TO_RGB[ch] + CR_TO_RGB[ch];
    for (let p = 0; p < h * w; ++p) delta[ch * h * w + p] = gain * plane[p];
  }
  return delta;
}

/** Stamps image i of `pixels` (C*H*W uint8 each) in place. */
export function stampImage(pixels: Uint8Array, offset: number, t: ResolvedTrigger): void {
  const n = t.mask.length;
  const d = t.delta;
  for (let k = 0; k < n; ++k) {
    const m = t.mask[k];
    if (m === 0 && !d) continue;
    const v = (1 - m) * pixels[offset + k] + m * t.pattern[k] + (d ? d[k] : 0);
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
