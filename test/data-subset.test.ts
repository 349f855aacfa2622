// Seeded clean-subset selection: determinism, fraction / count rounding, stratification quotas, and the audit
// manifest (its sha256 follows the documented byte layout and changes when one pixel or label changes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { MimicError } from '../lib/errors.ts';
import { hashImages, selectIndices, selectSubset, subsetSize, verifyManifest } from '../lib/data/subset.ts';
import type { ImageDataset } from '../lib/data/types.ts';
import { freshSeed, mulberry32 } from './helpers.ts';

function synthetic(n: number, classes: number[] | undefined, seed: number): ImageDataset {
  const r = mulberry32(seed);
  const pixels = Uint8Array.from({ length: n * 2 * 2 * 3 }, () => Math.floor(r() * 256));
  return {
    name: 'synthetic', count: n, channels: 3, height: 2, width: 2, pixels, source: 'memory',
    labels: classes ? Int32Array.from({ length: n }, (_, i) => classes[i % classes.length]) : undefined,
  };
}
const isCode = (code: string, frag?: string) => (e: unknown) =>
  e instanceof MimicError && e.code === code && (frag === undefined || e.message.includes(frag));

test('fraction and count: round(f * N) halves up and immune to binary noise; bad sizes are refused', () => {
  assert.equal(subsetSize(50000, { fraction: 0.04 }), 2000);
  assert.equal(subsetSize(100, { fraction: 0.07 }), 7); // 0.07 * 100 = 7.000000000000001
  assert.equal(subsetSize(200, { fraction: 0.035 }), 7); // 6.999999999999999 in binary, 7 exactly
  assert.equal(subsetSize(3, { fraction: 0.5 }), 2); // 1.5 rounds up
  assert.throws(() => subsetSize(10, { fraction: 0.04 }), isCode('E_INVALID_ARGUMENT', 'selects 0 images'));
  assert.equal(subsetSize(10, { fraction: 1 }), 10);
  assert.equal(subsetSize(10, { count: 3 }), 3);
  for (const bad of [{ fraction: 0 }, { fraction: 1.5 }, { fraction: NaN }, { count: 0 }, { count: 11 }, { count: 2.5 }, {}, { fraction: 0.5, count: 2 }])
    assert.throws(() => subsetSize(10, bad), isCode('E_INVALID_ARGUMENT'), JSON.stringify(bad));
});

test('same seed, same indices; another seed, other indices; sorted, distinct, in range', () => {
  const seed = freshSeed('subset');
  const ds = synthetic(1000, undefined, seed);
  const a = selectIndices(ds, { fraction: 0.04, seed });
  const b = selectIndices(ds, { fraction: 0.04, seed });
  const c = selectIndices(ds, { fraction: 0.04, seed: seed + 1 });
  assert.equal(a.length, 40);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  for (let k = 0; k < a.length; ++k) {
    assert.ok(a[k] >= 0 && a[k] < 1000);
    if (k > 0) assert.ok(a[k] > a[k - 1]);
  }
  // A pinned value guards against silent changes to the algorithm (it would break recorded manifests).
  assert.deepEqual(Array.from(selectIndices(synthetic(20, undefined, 1), { count: 5, seed: 42 })), PINNED);
  assert.throws(() => selectIndices(ds, { count: 3, seed: 1.5 }), isCode('E_INVALID_ARGUMENT', 'seed'));
});
// Checked against an independent Python port of mulberry32 + Fisher-Yates (same draws, same result).
const PINNED = [0, 4, 6, 13, 19];

test('stratified: largest-remainder class quotas, every class represented in proportion', () => {
  const seed = freshSeed('stratified');
  // 10 classes of 100 images: 4% -> exactly 4 of each.
  const ds = synthetic(1000, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], seed);
  const idx = selectIndices(ds, { fraction: 0.04, seed, stratify: true });
  const counts = new Map<number, number>();
  for (const i of idx) counts.set(ds.labels![i], (counts.get(ds.labels![i]) ?? 0) + 1);
  assert.deepEqual([...counts.entries()].sort((x, y) => x[0] - y[0]), Array.from({ length: 10 }, (_, c) => [c, 4]));
  // Unequal classes: labels 0 x5, 1 x3, 2 x2 (N = 10), k = 5: exact 2.5, 1.5, 1 -> floors 2, 1, 1; the
  // remainder 1 goes to the first of the tied largest remainders (class 0): 3, 1, 1.
  const uneq = synthetic(10, [0, 0, 1, 0, 2, 1, 0, 0, 2, 1], seed);
  const u = selectIndices(uneq, { count: 5, seed, stratify: true });
  const per = [0, 1, 2].map((c) => Array.from(u).filter((i) => uneq.labels![i] === c).length);
  assert.deepEqual(per, [3, 1, 1]);
  assert.deepEqual(u, selectIndices(uneq, { count: 5, seed, stratify: true }));
  assert.throws(() => selectIndices(synthetic(10, undefined, 1), { count: 2, seed: 1, stratify: true }), isCode('E_INVALID_ARGUMENT', 'has none'));
});

test('manifest: documented sha256 layout; changes with one pixel or one label; verifyManifest finds each problem', () => {
  const seed = freshSeed('manifest');
  const ds = synthetic(50, [0, 1, 2], seed);
  const m = selectSubset(ds, { fraction: 0.1, seed, stratify: true });
  assert.deepEqual([m.source, m.count, m.selected, m.seed, m.method, m.fraction, m.shape, m.labels], ['memory', 50, 5, seed, 'stratified', 0.1, [3, 2, 2], true]);
  // The layout: each selected image's CHW bytes, then its label as int32 little-endian.
  const h = createHash('sha256');
  for (const i of m.indices) {
    h.update(ds.pixels.subarray(i * 12, (i + 1) * 12));
    const l = Buffer.alloc(4);
    l.writeInt32LE(ds.labels![i]);
    h.update(l);
  }
  assert.equal(m.sha256, h.digest('hex'));
  assert.deepEqual(JSON.parse(JSON.stringify(m)), m);
  assert.deepEqual(verifyManifest(ds, m), { ok: true, problems: [] });

  const changed = { ...ds, pixels: ds.pixels.slice() };
  changed.pixels[m.indices[2] * 12 + 7] ^= 1;
  assert.notEqual(hashImages(changed, m.indices), m.sha256);
  const v = verifyManifest(changed, m);
  assert.equal(v.ok, false);
  assert.match(v.problems.join('; '), /the data changed/);
  // A pixel outside the subset does not matter.
  const outside = { ...ds, pixels: ds.pixels.slice() };
  const notSelected = Array.from({ length: 50 }, (_, i) => i).find((i) => !m.indices.includes(i))!;
  outside.pixels[notSelected * 12] ^= 1;
  assert.equal(verifyManifest(outside, m).ok, true);
  const relabelled = { ...ds, labels: ds.labels!.slice() };
  relabelled.labels[m.indices[0]] += 1;
  assert.notEqual(hashImages(relabelled, m.indices), m.sha256);

  assert.match(verifyManifest(ds, { ...m, seed: m.seed + 1 }).problems.join(';'), /selects other indices/);
  assert.match(verifyManifest(ds, { ...m, indices: [...m.indices].reverse() }).problems.join(';'), /not strictly ascending/);
  assert.match(verifyManifest(ds, { ...m, indices: [...m.indices.slice(1), 99] }).problems.join(';'), /outside 0\.\.49/);
  assert.match(verifyManifest(ds, { ...m, selected: 6 }).problems.join(';'), /selected says 6 but 5/);
  assert.match(verifyManifest(synthetic(60, [0, 1, 2], seed), m).problems.join(';'), /for 50 images/);
  assert.match(verifyManifest({ ...ds, labels: undefined }, m).problems.join(';'), /hashed labels/);
  // Unlabelled data hashes pixels only.
  const plain = { ...ds, labels: undefined };
  const pm = selectSubset(plain, { count: 4, seed });
  assert.equal(pm.method, 'random');
  assert.equal(pm.labels, false);
  const ph = createHash('sha256');
  for (const i of pm.indices) ph.update(plain.pixels.subarray(i * 12, (i + 1) * 12));
  assert.equal(pm.sha256, ph.digest('hex'));
  assert.equal(verifyManifest(plain, pm).ok, true);
});
