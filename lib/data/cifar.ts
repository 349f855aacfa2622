/**
 * CIFAR binary batches ("binary version" of CIFAR-10 / CIFAR-100): fixed-size records, no header.
 * CIFAR-10: 1 label byte (0..9) + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows top to bottom) = 3073.
 * CIFAR-100: 1 coarse label byte (0..19) + 1 fine label byte (0..99) + 3072 pixel bytes = 3074.
 * The pixel layout is CHW already, so records are copied as they are.
 */
import { basename } from 'node:path';
import { MimicError } from '../errors.ts';
import { readBytes } from './files.ts';
import type { ImageDataset } from './types.ts';

export type CifarVariant = 'cifar10' | 'cifar100';

export interface CifarOptions {
  /** Default 'cifar10'. */
  variant?: CifarVariant;
  /** CIFAR-100 only: which label to keep, default 'fine'. */
  label?: 'fine' | 'coarse';
  name?: string;
}

const PIXELS = 3072;

export function cifarRecordSize(variant: CifarVariant): number {
  return variant === 'cifar100' ? 2 + PIXELS : 1 + PIXELS;
}

function checkOptions(o: CifarOptions): { variant: CifarVariant; label: 'fine' | 'coarse' } {
  const variant = o.variant ?? 'cifar10';
  if (variant !== 'cifar10' && variant !== 'cifar100')
    throw new MimicError('E_INVALID_ARGUMENT', `CIFAR variant must be 'cifar10' or 'cifar100', got ${JSON.stringify(variant)}`);
  const label = o.label ?? 'fine';
  if (label !== 'fine' && label !== 'coarse')
    throw new MimicError('E_INVALID_ARGUMENT', `CIFAR-100 label must be 'fine' or 'coarse', got ${JSON.stringify(label)}`);
  if (variant === 'cifar10' && o.label !== undefined)
    throw new MimicError('E_INVALID_ARGUMENT', `the label option ('fine' | 'coarse') applies to CIFAR-100 only`);
  return { variant, label };
}

/** Parses one batch file's bytes, appending into `pixels` / `labels` at record `start`. Returns the count. */
function parseInto(
  buf: Uint8Array, file: string, variant: CifarVariant, label: 'fine' | 'coarse',
  pixels: Uint8Array, labels: Int32Array, start: number,
): number {
  const rec = cifarRecordSize(variant);
  const n = Math.floor(buf.length / rec);
  const name = variant === 'cifar100' ? 'CIFAR-100' : 'CIFAR-10';
  if (buf.length === 0) throw new MimicError('E_FORMAT', `${file}: is empty, expected ${rec}-byte ${name} records`);
  if (buf.length % rec !== 0) {
    const other = variant === 'cifar10' ? 'cifar100' : 'cifar10';
    const hint = buf.length % cifarRecordSize(other) === 0 ? ` (it is a whole number of ${cifarRecordSize(other)}-byte records: is it ${other === 'cifar100' ? 'CIFAR-100' : 'CIFAR-10'}?)` : ' (truncated?)';
    throw new MimicError(
      'E_FORMAT',
      `${file}: ${buf.length} bytes is not a whole number of ${rec}-byte ${name} records (${n} records and ${buf.length % rec} bytes over)${hint}`,
    );
  }
  const maxLabel = variant === 'cifar10' ? 9 : label === 'coarse' ? 19 : 99;
  for (let i = 0; i < n; ++i) {
    const o = i * rec;
    if (variant === 'cifar100') {
      if (buf[o] > 19) throw new MimicError('E_FORMAT', `${file}: record ${i} has coarse label ${buf[o]}, CIFAR-100 coarse labels are 0..19`);
      if (buf[o + 1] > 99) throw new MimicError('E_FORMAT', `${file}: record ${i} has fine label ${buf[o + 1]}, CIFAR-100 fine labels are 0..99`);
    }
    const y = variant === 'cifar10' ? buf[o] : label === 'coarse' ? buf[o] : buf[o + 1];
    if (y > maxLabel)
      throw new MimicError('E_FORMAT', `${file}: record ${i} has label ${y}, ${name} labels are 0..${maxLabel} (wrong variant, or not a CIFAR file?)`);
    labels[start + i] = y;
    pixels.set(buf.subarray(o + rec - PIXELS, o + rec), (start + i) * PIXELS);
  }
  return n;
}

/** Parses one CIFAR batch held in memory. */
export function parseCifar(buf: Uint8Array, file: string, options: CifarOptions = {}): ImageDataset {
  const { variant, label } = checkOptions(options);
  const n = Math.floor(buf.length / cifarRecordSize(variant));
  const pixels = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  parseInto(buf, file, variant, label, pixels, labels, 0);
  return { name: options.name ?? basename(file), count: n, channels: 3, height: 32, width: 32, pixels, labels, source: file };
}

/** Reads one or several batch files (in the order given) into one dataset. */
export async function readCifar(files: string | string[], options: CifarOptions = {}): Promise<ImageDataset> {
  const list = typeof files === 'string' ? [files] : files;
  if (list.length === 0) throw new MimicError('E_INVALID_ARGUMENT', 'readCifar: no files given');
  const { variant, label } = checkOptions(options);
  const bufs = await Promise.all(list.map((f) => readBytes(f)));
  const rec = cifarRecordSize(variant);
  const total = bufs.reduce((s, b) => s + Math.floor(b.length / rec), 0);
  const pixels = new Uint8Array(total * PIXELS);
  const labels = new Int32Array(total);
  let at = 0;
  for (let k = 0; k < list.length; ++k) at += parseInto(bufs[k], list[k], variant, label, pixels, labels, at);
  const name = options.name ?? (list.length === 1 ? basename(list[0]) : `${basename(list[0])} + ${list.length - 1} more`);
  return { name, count: total, channels: 3, height: 32, width: 32, pixels, labels, source: list.join(', ') };
}
