/**
 * The poisoning attack's data: a copy of a labelled dataset (already in the model's layout) where a fraction of the
 * target-class images carry the trigger (Saha et al. / Carlini & Terzis style poisoning of contrastive pre-training).
 * The labels are dropped from the result: SimCLR pre-training on it never sees them.
 */
import { invalid } from '../errors.ts';
import type { ImageDataset } from '../data/types.ts';
import { mulberry32 } from '../util/rng.ts';
import { stampImage, type ResolvedTrigger } from './trigger.ts';

export interface PoisonResult {
  dataset: ImageDataset;
  /** Indices (into the input) of the stamped images. */
  poisoned: number[];
  targetCount: number;
}

export function poisonDataset(ds: ImageDataset, t: ResolvedTrigger, target: number, fraction: number, seed: number): PoisonResult {
  if (!ds.labels) throw invalid(`${ds.source}: the poisoning attack needs labels to find the target class`);
  if (!(fraction > 0 && fraction <= 1)) throw invalid(`poison fraction must be in (0, 1] (got ${fraction})`);
  const targets: number[] = [];
  for (let i = 0; i < ds.count; ++i) if (ds.labels[i] === target) targets.push(i);
  if (targets.length === 0) throw invalid(`${ds.source}: none of the ${ds.count} images used has label ${target} (the target class)`);
  const r = mulberry32((seed ^ 0x9015) >>> 0);
  for (let i = targets.length - 1; i > 0; --i) {
    const j = Math.floor(r() * (i + 1));
    [targets[i], targets[j]] = [targets[j], targets[i]];
  }
  const poisoned = targets.slice(0, Math.max(1, Math.round(fraction * targets.length))).sort((a, b) => a - b);
  const pixels = ds.pixels.slice();
  const per = ds.channels * ds.height * ds.width;
  for (const i of poisoned) stampImage(pixels, i * per, t);
  const dataset: ImageDataset = { name: `${ds.name} (poisoned)`, count: ds.count, channels: ds.channels, height: ds.height, width: ds.width, pixels, source: ds.source };
  return { dataset, poisoned, targetCount: targets.length };
}
