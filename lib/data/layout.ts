/**
 * A dataset converted to a model's input layout (channels and size adapted by transform.ts's rules), still uint8,
 * so that triggers and augmentation see exactly the pixels the model will see.
 */
import { makeBatch, type ChannelMode, type SizeMode } from './transform.ts';
import type { ImageDataset } from './types.ts';

export function toModelLayout(ds: ImageDataset, c: number, h: number, w: number, t: { size?: SizeMode; channelMode?: ChannelMode } = {}): ImageDataset {
  if (ds.channels === c && ds.height === h && ds.width === w) return ds;
  const all = Array.from({ length: ds.count }, (_, i) => i);
  const pixels = new Uint8Array(ds.count * c * h * w);
  const chunk = 4096; // bounded float32 scratch for large datasets
  for (let s = 0; s < ds.count; s += chunk) {
    const idx = all.slice(s, s + chunk);
    const f = makeBatch(ds, idx, { channels: c, height: h, width: w, size: t.size ?? 'error', channelMode: t.channelMode ?? 'error', normalize: 'none' });
    const off = s * c * h * w;
    for (let i = 0; i < f.length; ++i) pixels[off + i] = Math.max(0, Math.min(255, Math.round(f[i] * 255)));
  }
  return { name: ds.name, count: ds.count, channels: c, height: h, width: w, pixels, labels: ds.labels, source: ds.source };
}
