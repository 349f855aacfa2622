/**
 * A dataset converted to a model's input layout (channels and size adapted by transform.ts's rules), still uint8,
 * so that triggers and augmentation see exactly the pixels the model will see.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { makeBatch, type ChannelMode, type SizeMode } from './transform.ts';
import type { ImageDataset } from './types.ts';

/**
 * Converted in chunks of ~256 KiB of output (~10 ms each), the event loop getting a turn between them: the whole
 * of Fashion-MNIST in one piece held it 1.6 s.
 */
export async function toModelLayoutAsync(ds: ImageDataset, c: number, h: number, w: number, t: { size?: SizeMode; channelMode?: ChannelMode } = {}): Promise<ImageDataset> {
  if (ds.channels === c && ds.height === h && ds.width === w) return ds;
  const pixels = new Uint8Array(ds.count * c * h * w);
  const chunk = Math.max(1, Math.floor((256 * 1024) / (c * h * w)));
  for (let s = 0; s < ds.count; s += chunk) {
    const idx = Array.from({ length: Math.min(chunk, ds.count - s) }, (_, i) => s + i);
    const f = makeBatch(ds, idx, { channels: c, height: h, width: w, size: t.size ?? 'error', channelMode: t.channelMode ?? 'error', normalize: 'none' });
    const off = s * c * h * w;
    for (let i = 0; i < f.length; ++i) pixels[off + i] = Math.max(0, Math.min(255, Math.round(f[i] * 255)));
    if (s + chunk < ds.count) await nextTurn();
  }
  return { name: ds.name, count: ds.count, channels: c, height: h, width: w, pixels, labels: ds.labels, source: ds.source };
}
