/**
 * openDataset: one entry point for every reader, with format detection.
 *
 * A file:   format option, else the extension (.npz -> npz, .npy -> npy, .bin -> CIFAR, 10 or 100 by which
 *           record size divides the file size), else the content (after gunzip when it starts with the gzip
 *           magic): IDX magic 00 00 TYPE NDIM -> idx, \x93NUMPY -> npy, PK -> npz. An IDX image file's labels
 *           are `labels`, else the sibling whose name has 'labels-idx1' for 'images-idx3' when it exists.
 * A folder: `files` (relative to the folder) when given, read as the format of its first file; else
 *           *-images-idx3-ubyte[.gz] -> idx (split 'train' -> train-*, 'test' -> t10k-*, labels beside);
 *           data_batch_*.bin / test_batch.bin -> CIFAR-10 (train: every data_batch_K.bin by K; test: test_batch.bin);
 *           train.bin / test.bin -> CIFAR-100; a subfolder cifar-10-batches-bin / cifar-100-binary -> that;
 *           a subfolder named as the `split` option (when given) -> that; *.png -> a PNG folder.
 *           With `format` given, only that format's rule is tried.
 */
import { basename, extname, isAbsolute, join } from 'node:path';
import { MimicError } from '../errors.ts';
import { readCifar, cifarRecordSize, type CifarVariant } from './cifar.ts';
import { byName, exists, fileSize, listDir, pathKind, readMaybeGzip } from './files.ts';
import { looksLikeIdx, readIdx } from './idx.ts';
import { readNpyImages, readNpzImages, type ArrayLayout, type FloatRange } from './npz.ts';
import { readPngFolder } from './png.ts';
import type { ImageDataset } from './types.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export type DatasetFormat = 'idx' | 'cifar10' | 'cifar100' | 'npy' | 'npz' | 'png';
export const DATASET_FORMATS: readonly DatasetFormat[] = ['idx', 'cifar10', 'cifar100', 'npy', 'npz', 'png'];

export interface OpenOptions {
  /** 'auto' (default) detects it as described above. */
  format?: DatasetFormat | 'auto';
  /** Which split of a standard folder or an .npz archive: default 'train'. Refused for any other single file. */
  split?: string;
  /** The split of a folder or an .npz when `split` is not given (default 'train'); a single file ignores it. */
  defaultSplit?: string;
  /** Explicit files inside the folder (or absolute): CIFAR batches, or [images, labels] for IDX / NPY. */
  files?: string[];
  /**
   * Labels: an IDX / .npy / PNG labels file, an .npz array name; false for none. For a PNG folder a relative
   * path that does not exist from the working directory is taken relative to the folder.
   */
  labels?: string | false;
  /** .npz: the image array's name. */
  images?: string;
  /** .npy / .npz image layout and float conversion (npz.ts). */
  layout?: ArrayLayout;
  floatRange?: FloatRange;
  /** PNG folder channels. */
  channels?: 'auto' | 1 | 3;
  /** CIFAR-100: keep the 'fine' (default) or 'coarse' label. */
  cifarLabel?: 'fine' | 'coarse';
  name?: string;
}

export interface DatasetSpec extends OpenOptions {
  path: string;
}

const SPEC_OPTIONS = optionNames<DatasetSpec>({ path: true, format: true, split: true, defaultSplit: true, files: true, labels: true, images: true, layout: true, floatRange: true, channels: true, cifarLabel: true, name: true });
const OPEN_OPTIONS = SPEC_OPTIONS.filter((k) => k !== 'path');

function invalid(msg: string): MimicError {
  return new MimicError('E_INVALID_ARGUMENT', msg);
}

/** Opens a dataset from a path (file or folder) or a spec; `options` override the spec's fields. */
export async function openDataset(pathOrSpec: string | DatasetSpec, options: OpenOptions = {}): Promise<ImageDataset> {
  checkOptionNames(options, OPEN_OPTIONS, 'openDataset options');
  if (typeof pathOrSpec === 'object' && pathOrSpec !== null) checkOptionNames(pathOrSpec, SPEC_OPTIONS, 'openDataset spec');
  const spec: DatasetSpec = typeof pathOrSpec === 'string' ? { ...options, path: pathOrSpec } : { ...pathOrSpec, ...options };
  if (typeof spec.path !== 'string' || spec.path.length === 0) throw invalid('openDataset: path must be a non-empty string');
  const format = spec.format ?? 'auto';
  if (format !== 'auto' && !DATASET_FORMATS.includes(format))
    throw invalid(`format must be 'auto' or one of ${DATASET_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  if (spec.files !== undefined && (!Array.isArray(spec.files) || spec.files.length === 0))
    throw invalid('files must be a non-empty array of paths');
  const kind = await pathKind(spec.path);
  if (kind === 'dir') return openFolder(spec.path, spec);
  if (spec.files) throw invalid(`files applies to a folder, but ${spec.path} is a file`);
  return openFile(spec.path, spec, format === 'auto' ? await detectFile(spec.path) : format);
}

/** The format of a single file, by extension then content; E_FORMAT when it cannot tell. */
export async function detectFile(file: string): Promise<DatasetFormat> {
  const ext = extname(file).toLowerCase();
  if (ext === '.npz') return 'npz';
  if (ext === '.npy') return 'npy';
  if (ext === '.bin') return cifarVariantBySize(file, await fileSize(file));
  if (ext === '.png') throw new MimicError('E_FORMAT', `${file}: a single PNG is not a dataset: open its folder`);
  const buf = await readMaybeGzip(file);
  if (looksLikeIdx(buf)) return 'idx';
  if (buf.length >= 6 && buf[0] === 0x93 && String.fromCharCode(...buf.subarray(1, 6)) === 'NUMPY') return 'npy';
  if (buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 3 && buf[3] === 4) return 'npz';
  throw new MimicError(
    'E_FORMAT',
    `${file}: cannot tell the dataset format (not IDX, NPY or NPZ by content, extension '${ext}' unknown); pass format: ${DATASET_FORMATS.join(' | ')}`,
  );
}

function cifarVariantBySize(file: string, size: number): CifarVariant {
  if (size > 0 && size % cifarRecordSize('cifar10') === 0) return 'cifar10';
  if (size > 0 && size % cifarRecordSize('cifar100') === 0) return 'cifar100';
  throw new MimicError(
    'E_FORMAT',
    `${file}: ${size} bytes is a whole number of neither 3073-byte CIFAR-10 nor 3074-byte CIFAR-100 records`,
  );
}

async function openFile(file: string, o: OpenOptions, format: DatasetFormat, extraFiles: string[] = []): Promise<ImageDataset> {
  const name = o.name;
  // one file is one split (an .npz may hold several): a split named for any other file would be ignored
  if (o.split !== undefined && format !== 'npz')
    throw invalid(`split '${o.split}' picks a split of a folder or an .npz; ${file} is a single ${format} file (name that split's file instead)`);
  switch (format) {
    case 'idx': {
      let labels: string | undefined;
      if (typeof o.labels === 'string') labels = o.labels;
      else if (extraFiles.length > 0) labels = extraFiles[0];
      else if (o.labels === undefined) {
        const guess = join(file, '..', basename(file).replace('images-idx3', 'labels-idx1'));
        if (guess !== file && (await exists(guess))) labels = guess;
      }
      return readIdx(file, { labels, name });
    }
    case 'cifar10':
    case 'cifar100':
      return readCifar([file, ...extraFiles], { variant: format, label: format === 'cifar100' ? o.cifarLabel : undefined, name });
    case 'npy': {
      const labels = typeof o.labels === 'string' ? o.labels : o.labels === undefined ? extraFiles[0] : undefined;
      return readNpyImages(file, { labels, layout: o.layout, floatRange: o.floatRange, name });
    }
    case 'npz':
      return readNpzImages(file, { images: o.images, labels: o.labels, split: o.split ?? o.defaultSplit, layout: o.layout, floatRange: o.floatRange, name });
    case 'png':
      throw new MimicError('E_FORMAT', `${file}: format 'png' reads a folder of PNG images, not a file`);
  }
}

async function openFolder(dir: string, o: OpenOptions): Promise<ImageDataset> {
  const format = o.format ?? 'auto';
  const chosen = o.split ?? o.defaultSplit;
  const split = chosen ?? 'train';
  if (o.files) {
    const files = o.files.map((f) => (isAbsolute(f) ? f : join(dir, f)));
    const f0 = format === 'auto' ? await detectFile(files[0]) : format;
    if (f0 === 'png') throw invalid(`files does not apply to a PNG folder (every *.png in ${dir} is read)`);
    if ((f0 === 'idx' || f0 === 'npy' || f0 === 'npz') && files.length > (f0 === 'npz' ? 1 : 2))
      throw invalid(`files for ${f0}: ${f0 === 'npz' ? '[archive]' : '[images, labels]'}, got ${files.length} files`);
    return openFile(files[0], { ...o, split: undefined, defaultSplit: chosen }, f0, files.slice(1));
  }
  const names = (await listDir(dir)).sort(byName);
  const has = (n: string) => names.includes(n);
  const pngs = names.filter((n) => /\.png$/i.test(n));
  const idx = names.filter((n) => /-images-idx3-ubyte(\.gz)?$/.test(n));
  const batches = names.filter((n) => /^data_batch_\d+\.bin$/.test(n));
  const named = (fmt: DatasetFormat) => format === 'auto' || format === fmt;

  if (idx.length > 0 && named('idx')) {
    const prefix = split === 'test' ? 't10k' : split;
    const img = [`${prefix}-images-idx3-ubyte.gz`, `${prefix}-images-idx3-ubyte`].find(has);
    if (!img) throw new MimicError('E_FILE', `${dir}: no ${prefix}-images-idx3-ubyte[.gz] for split '${split}' (it holds ${idx.join(', ')})`);
    const lbl = [`${prefix}-labels-idx1-ubyte.gz`, `${prefix}-labels-idx1-ubyte`].find(has);
    const labels = typeof o.labels === 'string' ? o.labels : o.labels === false || !lbl ? undefined : join(dir, lbl);
    return readIdx(join(dir, img), { labels, name: o.name ?? `${basename(dir)} ${split}` });
  }
  if ((batches.length > 0 || has('test_batch.bin')) && named('cifar10')) {
    let files: string[];
    if (split === 'train') files = batches.sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]));
    else if (split === 'test') files = has('test_batch.bin') ? ['test_batch.bin'] : [];
    else throw invalid(`split for a CIFAR-10 folder is 'train' or 'test', got ${JSON.stringify(split)}`);
    if (files.length === 0) throw new MimicError('E_FILE', `${dir}: no CIFAR-10 ${split === 'train' ? 'data_batch_*.bin' : 'test_batch.bin'} for split '${split}'`);
    return readCifar(files.map((f) => join(dir, f)), { variant: 'cifar10', name: o.name ?? `${basename(dir)} ${split}` });
  }
  if ((has('train.bin') || has('test.bin')) && (named('cifar100') || format === 'cifar10')) {
    const f = `${split}.bin`;
    if (!has(f)) throw new MimicError('E_FILE', `${dir}: no ${f} for split '${split}'`);
    const variant: CifarVariant = format === 'cifar10' ? 'cifar10' : 'cifar100';
    return readCifar([join(dir, f)], { variant, label: variant === 'cifar100' ? o.cifarLabel : undefined, name: o.name ?? `${basename(dir)} ${split}` });
  }
  for (const sub of ['cifar-10-batches-bin', 'cifar-100-binary', ...(chosen !== undefined ? [chosen] : [])])
    if (has(sub) && (await pathKind(join(dir, sub))) === 'dir') return openFolder(join(dir, sub), o);
  if (pngs.length > 0 && named('png')) {
    const labels = typeof o.labels === 'string' && !isAbsolute(o.labels) && !(await exists(o.labels)) ? join(dir, o.labels) : o.labels;
    return readPngFolder(dir, { channels: o.channels, labels, name: o.name });
  }
  throw new MimicError(
    'E_FORMAT',
    `${dir}: cannot tell the dataset format${format === 'auto' ? '' : ` '${format}'`}: no *-images-idx3-ubyte[.gz], data_batch_*.bin / test_batch.bin, train.bin / test.bin, *.png` +
      ` or standard subfolder (it holds ${names.length} entries${names.length ? `: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''}` : ''}); open a file, or pass files`,
  );
}
