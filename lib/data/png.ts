/**
 * A folder of PNG images: every *.png (any case) directly in the folder, sorted by file name in byte (code point)
 * order, the order of Python's sorted() and `LC_ALL=C ls` (so img10.png comes before img2.png: zero-pad names).
 * All images must have the same size; the first that does not is named in the error.
 *
 * Channels: gray PNGs (colour types 0 and 4) give 1 channel, colour PNGs (2, 3 = palette, 6) give 3; a folder
 * mixing both is read as 3 channels (gray replicated) unless `channels: 1` asks for gray (colour PNGs are then an
 * error: convert explicitly in transform.ts). Alpha is dropped (not composited). 16-bit PNGs are scaled to 8 bits.
 *
 * Labels (optional): `labels: '<file>'`, or by default a labels.csv / labels.txt in the folder (`labels: false`
 * ignores them). A file with commas is CSV `filename,label` (a first line whose label is not an integer is a
 * header), one row for each image, in any order; otherwise it holds one integer label per line, in the images'
 * name order. Blank lines are skipped.
 */
import { basename, join } from 'node:path';
import { PNG } from 'pngjs';
import { MimicError } from '../errors.ts';
import { byName, exists, listDir, readBytes } from './files.ts';
import type { ImageDataset } from './types.ts';

/** What is wrong with bytes pngjs refused, in words (its own messages are stream internals). */
export function pngProblem(buf: Uint8Array): string {
  const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (buf.length < 8 || SIGNATURE.some((b, i) => buf[i] !== b)) return 'no PNG signature: not a PNG file';
  return 'truncated or corrupt image data';
}

export interface PngFolderOptions {
  /** 'auto' (default): 1 when every image is gray, else 3. */
  channels?: 'auto' | 1 | 3;
  /** A labels file path, or false for none; default: labels.csv or labels.txt inside the folder when present. */
  labels?: string | false;
  name?: string;
}

interface Decoded {
  file: string;
  width: number;
  height: number;
  gray: boolean;
  rgba: Uint8Array;
}

async function decode(file: string): Promise<Decoded> {
  const buf = await readBytes(file);
  let png;
  try {
    png = PNG.sync.read(buf);
  } catch (err) {
    throw new MimicError('E_FORMAT', `${file}: not a readable PNG (${pngProblem(buf)})`, { cause: err });
  }
  return { file, width: png.width, height: png.height, gray: png.colorType === 0 || png.colorType === 4, rgba: png.data };
}

export async function listPngs(dir: string): Promise<string[]> {
  return (await listDir(dir)).filter((f) => /\.png$/i.test(f)).sort(byName);
}

export async function readPngFolder(dir: string, options: PngFolderOptions = {}): Promise<ImageDataset> {
  const want = options.channels ?? 'auto';
  if (want !== 'auto' && want !== 1 && want !== 3)
    throw new MimicError('E_INVALID_ARGUMENT', `channels must be 'auto', 1 or 3, got ${JSON.stringify(want)}`);
  const names = await listPngs(dir);
  if (names.length === 0) throw new MimicError('E_FILE', `${dir}: holds no .png files`);
  // Decode in groups of 16 (some overlap of file reads, bounded memory: each RGBA buffer is dropped once its
  // pixels are copied). Three planes are kept per image until we know whether every image is gray.
  const first = await decode(join(dir, names[0]));
  const { width, height } = first;
  const hw = width * height;
  const rgb = new Uint8Array(names.length * 3 * hw);
  let allGray = true;
  let firstColour: string | undefined;
  const put = (d: Decoded, i: number) => {
    if (d.width !== width || d.height !== height)
      throw new MimicError(
        'E_SHAPE_MISMATCH',
        `${d.file}: is ${d.width}x${d.height} (width x height) but ${first.file}, the first image, is ${width}x${height}; all images must have one size`,
      );
    if (!d.gray) {
      allGray = false;
      firstColour ??= d.file;
    }
    const base = i * 3 * hw;
    for (let p = 0; p < hw; ++p) for (let ch = 0; ch < 3; ++ch) rgb[base + ch * hw + p] = d.rgba[4 * p + ch];
  };
  put(first, 0);
  for (let i = 1; i < names.length; i += 16) {
    const group = await Promise.all(names.slice(i, i + 16).map((n) => decode(join(dir, n))));
    group.forEach((d, k) => put(d, i + k));
  }
  const c = want === 'auto' ? (allGray ? 1 : 3) : want;
  if (c === 1 && !allGray)
    throw new MimicError('E_FORMAT', `${firstColour}: is a colour PNG but channels: 1 was asked; read with channels 3 and convert in the batch spec`);
  let pixels = rgb;
  if (c === 1) {
    pixels = new Uint8Array(names.length * hw);
    for (let i = 0; i < names.length; ++i) pixels.set(rgb.subarray(i * 3 * hw, i * 3 * hw + hw), i * hw);
  }
  const ds: ImageDataset = { name: options.name ?? basename(dir), count: names.length, channels: c, height, width, pixels, source: dir };
  let labelFile: string | undefined;
  if (typeof options.labels === 'string') labelFile = options.labels;
  else if (options.labels === undefined)
    for (const n of ['labels.csv', 'labels.txt']) if (await exists(join(dir, n))) { labelFile = join(dir, n); break; }
  if (labelFile !== undefined) {
    ds.labels = parseLabelFile((await readBytes(labelFile)).toString('utf8'), labelFile, names);
    ds.source = `${dir} + ${labelFile}`;
  }
  return ds;
}

function parseLabel(text: string): number | undefined {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) return undefined;
  const v = Number(t);
  return v >= -2147483648 && v <= 2147483647 ? v : undefined;
}

/** Parses a labels file for the given (sorted) image names: CSV filename,label or one label per line. */
export function parseLabelFile(text: string, file: string, names: string[]): Int32Array {
  const lines = text.split(/\r?\n/).map((l, i) => ({ line: i + 1, text: l.trim() })).filter((l) => l.text.length > 0);
  const out = new Int32Array(names.length);
  if (lines.some((l) => l.text.includes(','))) {
    const index = new Map(names.map((n, i) => [n, i]));
    const seen = new Int32Array(names.length).fill(0);
    lines.forEach((l, k) => {
      const parts = l.text.split(',');
      if (parts.length !== 2) throw new MimicError('E_FORMAT', `${file}: line ${l.line} must be 'filename,label', got ${JSON.stringify(l.text)}`);
      const [fname, lab] = [parts[0].trim().replace(/^"(.*)"$/, '$1'), parts[1].trim()];
      const v = parseLabel(lab);
      if (v === undefined) {
        if (k === 0) return; // a header line such as 'filename,label'
        throw new MimicError('E_FORMAT', `${file}: line ${l.line}: label ${JSON.stringify(lab)} is not an integer`);
      }
      const i = index.get(basename(fname));
      if (i === undefined) throw new MimicError('E_FORMAT', `${file}: line ${l.line} names ${fname}, which is not a .png in the folder`);
      if (seen[i]) throw new MimicError('E_FORMAT', `${file}: line ${l.line} labels ${fname} a second time`);
      seen[i] = 1;
      out[i] = v;
    });
    const missing = seen.indexOf(0);
    if (missing >= 0) throw new MimicError('E_FORMAT', `${file}: has no label for ${names[missing]}`);
    return out;
  }
  if (lines.length !== names.length)
    throw new MimicError('E_FORMAT', `${file}: holds ${lines.length} labels (one per line) but the folder holds ${names.length} images`);
  lines.forEach((l, i) => {
    const v = parseLabel(l.text);
    if (v === undefined) throw new MimicError('E_FORMAT', `${file}: line ${l.line}: label ${JSON.stringify(l.text)} is not an integer`);
    out[i] = v;
  });
  return out;
}
