/**
 * IDX files (the MNIST / Fashion-MNIST format), gzipped or plain (gzip is recognised by its magic, not the name):
 * a 4-byte magic 0x00 0x00 TYPE NDIM, NDIM big-endian uint32 dimensions, then the data. Images are ubyte
 * (TYPE 0x08) N x H x W (one channel); labels are ubyte or big-endian int32 (0x0C), N.
 */
import { basename } from 'node:path';
import { MimicError } from '../errors.ts';
import { readMaybeGzip } from './files.ts';
import type { ImageDataset } from './types.ts';

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'ubyte', bytes: 1 },
  0x09: { name: 'sbyte', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

export interface IdxHeader {
  type: number;
  typeName: string;
  dims: number[];
  /** Offset of the data in the (decompressed) buffer. */
  offset: number;
}

function bad(file: string, why: string): MimicError {
  return new MimicError('E_FORMAT', `${file}: ${why}`);
}

/** True when the buffer starts with a plausible IDX magic (0x00 0x00, a known type, 1..4 dimensions). */
export function looksLikeIdx(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0 && buf[1] === 0 && buf[2] in TYPES && buf[3] >= 1 && buf[3] <= 4;
}

/** Parses and checks the header: magic, type, dimensions, and that the data is exactly the size they say. */
export function parseIdxHeader(buf: Uint8Array, file: string): IdxHeader {
  if (buf.length < 4) throw bad(file, `too short for an IDX header (${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0)
    throw bad(file, `not an IDX file: the magic must start with two zero bytes, found 0x${hex(buf[0])} 0x${hex(buf[1])}`);
  const t = TYPES[buf[2]];
  if (!t) throw bad(file, `IDX data type 0x${hex(buf[2])} is unknown (0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64)`);
  const ndim = buf[3];
  if (ndim < 1) throw bad(file, 'IDX header has 0 dimensions');
  const offset = 4 + 4 * ndim;
  if (buf.length < offset) throw bad(file, `IDX header says ${ndim} dimensions but the file ends after ${buf.length} bytes`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndim; ++d) dims.push(view.getUint32(4 + 4 * d, false));
  return { type: buf[2], typeName: t.name, dims, offset };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0').toUpperCase();
}

/** Parses an IDX image file (ubyte, N x H x W) into a one-channel dataset (no labels). */
export function parseIdxImages(buf: Uint8Array, file: string): ImageDataset {
  const h = parseIdxHeader(buf, file);
  if (h.dims.length !== 3)
    throw bad(file, `an IDX image file must have 3 dimensions (N x H x W, magic 0x00000803), this one has ${h.dims.length} (${h.dims.join(' x ')})`);
  if (h.type !== 0x08) throw bad(file, `IDX images must be ubyte (0x08), this file holds ${h.typeName}`);
  const [n, height, width] = h.dims;
  if (height < 1 || width < 1) throw bad(file, `header says images of ${height}x${width}`);
  const have = buf.length - h.offset;
  const need = n * height * width;
  if (have !== need)
    throw bad(
      file,
      `header says ${n} images of ${height}x${width} (${need} bytes) but the file holds ${have} bytes of data` +
        (have < need ? ' (truncated?)' : ''),
    );
  // Copy out of the (possibly pooled or large) file buffer. N x H x W is already CHW with C = 1.
  const pixels = new Uint8Array(buf.subarray(h.offset, h.offset + need));
  return { name: basename(file), count: n, channels: 1, height, width, pixels, source: file };
}

/** Parses an IDX label file (ubyte or int32, N). */
export function parseIdxLabels(buf: Uint8Array, file: string): Int32Array {
  const h = parseIdxHeader(buf, file);
  if (h.dims.length !== 1)
    throw bad(file, `an IDX label file must have 1 dimension (magic 0x00000801), this one has ${h.dims.length} (${h.dims.join(' x ')})`);
  if (h.type !== 0x08 && h.type !== 0x0c) throw bad(file, `IDX labels must be ubyte (0x08) or int32 (0x0C), this file holds ${h.typeName}`);
  const n = h.dims[0];
  const size = TYPES[h.type].bytes;
  const have = buf.length - h.offset;
  if (have !== n * size) throw bad(file, `header says ${n} labels (${n * size} bytes) but the file holds ${have} bytes of data`);
  const out = new Int32Array(n);
  if (h.type === 0x08) for (let i = 0; i < n; ++i) out[i] = buf[h.offset + i];
  else {
    const view = new DataView(buf.buffer, buf.byteOffset + h.offset, n * 4);
    for (let i = 0; i < n; ++i) out[i] = view.getInt32(4 * i, false);
  }
  return out;
}

export async function readIdxImages(file: string): Promise<ImageDataset> {
  return parseIdxImages(await readMaybeGzip(file), file);
}

export async function readIdxLabels(file: string): Promise<Int32Array> {
  return parseIdxLabels(await readMaybeGzip(file), file);
}

export interface IdxOptions {
  /** The label file (optional). */
  labels?: string;
  name?: string;
}

/** Reads an IDX image file and, optionally, its label file; the counts must agree. */
export async function readIdx(imagesFile: string, options: IdxOptions = {}): Promise<ImageDataset> {
  const [ds, labels] = await Promise.all([
    readIdxImages(imagesFile),
    options.labels !== undefined ? readIdxLabels(options.labels) : Promise.resolve(undefined),
  ]);
  if (labels && labels.length !== ds.count)
    throw new MimicError('E_SHAPE_MISMATCH', `${options.labels}: holds ${labels.length} labels but ${imagesFile} holds ${ds.count} images`);
  if (labels) {
    ds.labels = labels;
    ds.source = `${imagesFile} + ${options.labels}`;
  }
  if (options.name) ds.name = options.name;
  return ds;
}
