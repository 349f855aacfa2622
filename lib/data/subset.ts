/**
 * Seeded, reproducible clean-subset selection (MIMIC's defender holds a few % of the data: 4% by default).
 *
 * Size: `count`, or `fraction` of the dataset rounded to the nearest integer (halves up): round(f * N); a
 * selection of 0 images is an error.
 * 'random': a Fisher-Yates shuffle of 0..N-1 driven by mulberry32(seed); the first k, sorted ascending.
 * 'stratified' (needs labels): class quotas k * n_c / N rounded by largest remainder (ties to the smaller label),
 * then, classes in ascending label order with one mulberry32(seed) stream, a Fisher-Yates shuffle of each class's
 * indices, the first quota of each; all sorted ascending.
 *
 * The manifest's sha256 is the SHA-256 of, for each selected index in ascending order, the image's CHW uint8
 * bytes followed (when the dataset has labels) by its label as a 4-byte little-endian int32. In NumPy, with x
 * N x C x H x W uint8 and y int32: for i in idx: h.update(x[i].tobytes()); h.update(y[i].tobytes()).
 */
import { createHash } from 'node:crypto';
import { MimicError } from '../errors.ts';
import { mulberry32 } from '../util/rng.ts';
import { imageSize, type ImageDataset } from './types.ts';

export type SubsetMethod = 'random' | 'stratified';

export interface SubsetOptions {
  /** In (0, 1]; exactly one of fraction and count. */
  fraction?: number;
  count?: number;
  /** An integer (taken modulo 2^32). */
  seed: number;
  /** Stratify by label (the dataset must have labels). Default false. */
  stratify?: boolean;
}

export interface SubsetManifest {
  /** The dataset's source (paths). */
  source: string;
  /** Images in the dataset. */
  count: number;
  /** Images selected. */
  selected: number;
  seed: number;
  method: SubsetMethod;
  /** The fraction asked for, when one was. */
  fraction?: number;
  /** Selected indices, ascending. */
  indices: number[];
  /** Hex SHA-256 of the selected images (and labels), see above. */
  sha256: string;
  /** Image shape [C, H, W] and whether labels were hashed. */
  shape: [number, number, number];
  labels: boolean;
}

function bad(msg: string): MimicError {
  return new MimicError('E_INVALID_ARGUMENT', msg);
}

/** How many images `options` selects from n: round(fraction * n) or count, checked. */
export function subsetSize(n: number, options: Pick<SubsetOptions, 'fraction' | 'count'>): number {
  const { fraction, count } = options;
  if ((fraction === undefined) === (count === undefined)) throw bad('give exactly one of fraction and count');
  if (fraction !== undefined) {
    if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1)) throw bad(`fraction must be in (0, 1], got ${fraction}`);
    // Round in a way immune to binary noise (0.07 * 100 = 7.000000000000001, 0.035 * 200 = 6.999999999999999).
    const k = Math.floor(Number((fraction * n).toPrecision(12)) + 0.5);
    if (k < 1) throw bad(`fraction ${fraction} of ${n} images selects 0 images`);
    return Math.min(k, n);
  }
  if (!Number.isInteger(count) || count! < 1 || count! > n) throw bad(`count must be an integer in 1..${n}, got ${count}`);
  return count!;
}

function shuffleInPlace(a: Int32Array, rng: () => number): void {
  for (let i = a.length - 1; i > 0; --i) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/** The selected indices (ascending) without the manifest. */
export function selectIndices(ds: Pick<ImageDataset, 'count' | 'labels' | 'name'>, options: SubsetOptions): Int32Array {
  if (!Number.isInteger(options.seed)) throw bad(`seed must be an integer, got ${options.seed}`);
  const n = ds.count;
  if (n < 1) throw bad(`${ds.name} is empty`);
  const k = subsetSize(n, options);
  const rng = mulberry32(options.seed >>> 0);
  let picked: Int32Array;
  if (!options.stratify) {
    const all = Int32Array.from({ length: n }, (_, i) => i);
    shuffleInPlace(all, rng);
    picked = all.slice(0, k);
  } else {
    if (!ds.labels) throw bad(`stratify needs labels, and ${ds.name} has none`);
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < n; ++i) {
      const y = ds.labels[i];
      let list = byClass.get(y);
      if (!list) byClass.set(y, (list = []));
      list.push(i);
    }
    const classes = [...byClass.keys()].sort((a, b) => a - b);
    // Largest-remainder quotas (exact integer arithmetic: k * n_c < 2^53 for any realistic dataset).
    const quota = classes.map((c) => Math.floor((k * byClass.get(c)!.length) / n));
    const rem = classes.map((c, j) => ({ j, r: k * byClass.get(c)!.length - quota[j] * n }));
    rem.sort((a, b) => b.r - a.r || a.j - b.j);
    let left = k - quota.reduce((s, q) => s + q, 0);
    for (const { j } of rem) {
      if (left === 0) break;
      quota[j] += 1;
      left -= 1;
    }
    picked = new Int32Array(k);
    let at = 0;
    classes.forEach((c, j) => {
      const members = Int32Array.from(byClass.get(c)!);
      shuffleInPlace(members, rng);
      picked.set(members.subarray(0, quota[j]), at);
      at += quota[j];
    });
  }
  return picked.sort();
}

/** SHA-256 (hex) of the given images' bytes and labels, in the given order (see the header comment). */
export function hashImages(ds: ImageDataset, indices: ArrayLike<number>): string {
  const h = createHash('sha256');
  const len = imageSize(ds);
  const lab = new Uint8Array(4);
  const lv = new DataView(lab.buffer);
  for (let k = 0; k < indices.length; ++k) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.count) throw bad(`index ${i} is not an image of ${ds.name} (0..${ds.count - 1})`);
    h.update(ds.pixels.subarray(i * len, (i + 1) * len));
    if (ds.labels) {
      lv.setInt32(0, ds.labels[i], true);
      h.update(lab);
    }
  }
  return h.digest('hex');
}

/** Selects a subset and describes it in an auditable, JSON-serialisable manifest. */
export function selectSubset(ds: ImageDataset, options: SubsetOptions): SubsetManifest {
  const idx = selectIndices(ds, options);
  const m: SubsetManifest = {
    source: ds.source,
    count: ds.count,
    selected: idx.length,
    seed: options.seed,
    method: options.stratify ? 'stratified' : 'random',
    indices: Array.from(idx),
    sha256: hashImages(ds, idx),
    shape: [ds.channels, ds.height, ds.width],
    labels: ds.labels !== undefined,
  };
  if (options.fraction !== undefined) m.fraction = options.fraction;
  return m;
}

export interface VerifyResult {
  ok: boolean;
  /** Every disagreement found, in words; empty when ok. */
  problems: string[];
}

/**
 * Checks a manifest against a dataset: size, image shape, the indices (sorted, in range, the count stated), the
 * hash of those images, and that seed + method reproduce exactly those indices.
 */
export function verifyManifest(ds: ImageDataset, m: SubsetManifest): VerifyResult {
  const problems: string[] = [];
  if (m.count !== ds.count) problems.push(`the manifest is for ${m.count} images, ${ds.name} has ${ds.count}`);
  if (m.shape && (m.shape[0] !== ds.channels || m.shape[1] !== ds.height || m.shape[2] !== ds.width))
    problems.push(`the manifest is for ${m.shape.join('x')} images, ${ds.name} has ${ds.channels}x${ds.height}x${ds.width}`);
  if (m.labels !== undefined && m.labels !== (ds.labels !== undefined))
    problems.push(`the manifest ${m.labels ? 'hashed' : 'did not hash'} labels, ${ds.name} ${ds.labels ? 'has' : 'has no'} labels`);
  const idx = Array.isArray(m.indices) ? m.indices : [];
  if (idx.length !== m.selected) problems.push(`selected says ${m.selected} but ${idx.length} indices are listed`);
  const inRange = idx.every((i) => Number.isInteger(i) && i >= 0 && i < ds.count);
  if (!inRange) problems.push(`indices outside 0..${ds.count - 1}`);
  if (!idx.every((v, k) => k === 0 || v > idx[k - 1])) problems.push('indices are not strictly ascending');
  if (inRange && problems.length === 0) {
    const h = hashImages(ds, idx);
    if (h !== m.sha256) problems.push(`sha256 of the selected images is ${h}, the manifest says ${m.sha256}: the data changed`);
  }
  if (m.count === ds.count) {
    try {
      const again = selectIndices(ds, { seed: m.seed, count: m.selected, stratify: m.method === 'stratified' });
      if (again.length !== idx.length || again.some((v, k) => v !== idx[k]))
        problems.push(`seed ${m.seed} with method '${m.method}' selects other indices than the manifest lists`);
    } catch (err) {
      problems.push(`cannot reselect with seed ${m.seed} / '${m.method}': ${(err as Error).message}`);
    }
  }
  return { ok: problems.length === 0, problems };
}
