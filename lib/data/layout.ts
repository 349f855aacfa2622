/**
 * A dataset converted to a model's input layout (channels and size adapted by transform.ts's rules), still uint8,
 * so that triggers and augmentation see exactly the pixels the model will see.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { makeBatch, type ChannelMode, type SizeMode } from './transform.ts';
import type { ImageDataset } from './types.ts';

type LayoutOptions = { size?: SizeMode; channelMode?: ChannelMode };

/** Converts images [start, end) of `ds` into `pixels` (the whole converted set). */
function convertRange(ds: ImageDataset, pixels: Uint8Array, start: number, end: number, c: number, h: number, w: number, t: LayoutOptions): void {
  const idx = Array.from({ length: end - start }, (_, i) => start + i);
  const f = makeBatch(ds, idx, { channels: c, height: h, width: w, size: t.size ?? 'error', channelMode: t.channelMode ?? 'error', normalize: 'none' });
  const off = start * c * h * w;
  for (let i = 0; i < f.length; ++i) pixels[off + i] = Math.max(0, Math.min(255, Math.round(f[i] * 255)));
}

const laidOut = (ds: ImageDataset, pixels: Uint8Array, c: number, h: number, w: number): ImageDataset =>
  ({ name: ds.name, count: ds.count, channels: c, height: h, width: w, pixels, labels: ds.labels, source: ds.source });

export function toModelLayout(ds: ImageDataset, c: number, h: number, w: number, t: LayoutOptions = {}): ImageDataset {
  if (ds.channels === c && ds.height === h && ds.width === w) return ds;
  const pixels = new Uint8Array(ds.count * c * h * w);
  const chunk = 4096; // bounded float32 scratch for large datasets
  for (let s = 0; s < ds.count; s += chunk) convertRange(ds, pixels, s, Math.min(ds.count, s + chunk), c, h, w, t);
  return laidOut(ds, pixels, c, h, w);
}

/**
 * toModelLayout for the async entry points: the event loop gets a turn between chunks of images (the whole of
 * Fashion-MNIST took 1.6 s in one piece), each chunk ~10 ms.
 */
export async function toModelLayoutAsync(ds: ImageDataset, c: number, h: number, w: number, t: LayoutOptions = {}): Promise<ImageDataset> {
  if (ds.channels === c && ds.height === h && ds.width === w) return ds;
  const pixels = new Uint8Array(ds.count * c * h * w);
  const chunk = Math.max(1, Math.floor((256 * 1024) / (c * h * w)));
  for (let s = 0; s < ds.count; s += chunk) {
    convertRange(ds, pixels, s, Math.min(ds.count, s + chunk), c, h, w, t);
    if (s + chunk < ds.count) await nextTurn();
  }
  return laidOut(ds, pixels, c, h, w);
}
