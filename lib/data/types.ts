/**
 * The in-memory image dataset every reader returns: N images of C x H x W uint8 pixels, each image stored CHW
 * (all of channel 0, then channel 1, ...; rows top to bottom), images one after another. Pixels stay uint8 until
 * batching (transform.ts); labels, when the source has them, are one Int32 per image.
 */
import { MimicError } from '../errors.ts';

export interface ImageDataset {
  /** A short human name (e.g. 'fashion-mnist train', the file or folder name). */
  name: string;
  count: number;
  channels: number;
  height: number;
  width: number;
  /** count * channels * height * width bytes, CHW per image. */
  pixels: Uint8Array;
  labels?: Int32Array;
  /** Where it came from: the path(s) read, for reports and manifests. */
  source: string;
}

/** Bytes per image (C * H * W). */
export function imageSize(ds: Pick<ImageDataset, 'channels' | 'height' | 'width'>): number {
  return ds.channels * ds.height * ds.width;
}

/** A view (no copy) of image i's CHW bytes. */
export function imageBytes(ds: ImageDataset, i: number): Uint8Array {
  const n = imageSize(ds);
  return ds.pixels.subarray(i * n, (i + 1) * n);
}

/** Throws E_SHAPE_MISMATCH / E_INVALID_ARGUMENT when the fields disagree (a dataset built by hand, say). */
export function checkDataset(ds: ImageDataset): void {
  const what = `dataset ${ds.name || '<unnamed>'} (${ds.source})`;
  for (const k of ['count', 'channels', 'height', 'width'] as const) {
    const v = ds[k];
    if (!Number.isInteger(v) || v < (k === 'count' ? 0 : 1))
      throw new MimicError('E_INVALID_ARGUMENT', `${what}: ${k} must be a ${k === 'count' ? 'non-negative' : 'positive'} integer, got ${v}`);
  }
  if (!(ds.pixels instanceof Uint8Array)) throw new MimicError('E_INVALID_ARGUMENT', `${what}: pixels must be a Uint8Array`);
  const want = ds.count * imageSize(ds);
  if (ds.pixels.length !== want)
    throw new MimicError(
      'E_SHAPE_MISMATCH',
      `${what}: ${ds.count} images of ${ds.channels}x${ds.height}x${ds.width} need ${want} bytes, pixels has ${ds.pixels.length}`,
    );
  if (ds.labels !== undefined) {
    if (!(ds.labels instanceof Int32Array)) throw new MimicError('E_INVALID_ARGUMENT', `${what}: labels must be an Int32Array`);
    if (ds.labels.length !== ds.count)
      throw new MimicError('E_SHAPE_MISMATCH', `${what}: ${ds.count} images but ${ds.labels.length} labels`);
  }
}

/** A new dataset holding copies of the given images (in the given order) and their labels. */
export function subsetDataset(ds: ImageDataset, indices: ArrayLike<number>, name = `${ds.name} subset`): ImageDataset {
  const n = imageSize(ds);
  const pixels = new Uint8Array(indices.length * n);
  const labels = ds.labels ? new Int32Array(indices.length) : undefined;
  for (let k = 0; k < indices.length; ++k) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.count)
      throw new MimicError('E_INVALID_ARGUMENT', `indices[${k}] = ${i} is not an image of ${ds.name} (0..${ds.count - 1})`);
    pixels.set(ds.pixels.subarray(i * n, (i + 1) * n), k * n);
    if (labels) labels[k] = ds.labels![i];
  }
  return { name, count: indices.length, channels: ds.channels, height: ds.height, width: ds.width, pixels, labels, source: ds.source };
}
