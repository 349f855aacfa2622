// Native seeded perturbation families (lib/train/perturb.ts, native/include/mimic/perturb.h): every output image
// recomputed in float64 from its draws and the documented stream (splitmix64 in BigInt, written here), the draws
// themselves re-derived from the stream key, rates 0 / 1 / empirical, determinism (seed, counter, thread count),
// patch and blend ranges, typed errors, async = sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MimicError } from '../lib/errors.ts';
import { perturbBatch, perturbBatchAsync, type PerturbDraw, type PerturbOptions, type PerturbPatch } from '../lib/train/perturb.ts';
import type { AugmentNormalize } from '../lib/train/augment.ts';
import { freshSeed, mulberry32 } from './helpers.ts';

type Shape = [number, number, number, number];
const CIFAR = { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] };

/** Normalised views of random uint8-like images ((p / 255 - mean) / std, float32), as twoViews makes them. */
function makeViews(shape: Shape, seed: number, norm: { mean: number[]; std: number[] } | null): Float32Array {
  const [n, c, h, w] = shape;
  const r = mulberry32(seed);
  const v = new Float32Array(n * c * h * w);
  for (let i = 0; i < v.length; ++i) {
    const ch = Math.floor(i / (h * w)) % c;
    const p = Math.floor(r() * 256) / 255;
    v[i] = norm ? (p - norm.mean[ch]) / norm.std[ch] : p;
  }
  return v;
}

function normOf(n: AugmentNormalize): { mean: number[]; std: number[] } | null {
  return n === 'none' ? null : n === 'cifar10' ? CIFAR : n;
}

// ---- the documented stream, in BigInt ----
const M64 = (1n << 64n) - 1n;
const G = 0x9e3779b97f4a7c15n;
const DOMAIN = 0x5045525455524221n; // "PERTURB!"
const TEXTURE_BASE = 1n << 61n;
const NOISE_BASE = 1n << 60n;
function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}
function streamKey(seed: number, counter: number, k: number): bigint {
  let key = mix64((BigInt(seed) + DOMAIN) & M64);
  key = mix64(key ^ mix64((BigInt(counter) + 2n * G) & M64));
  return mix64(key ^ mix64((BigInt(k) + 3n * G) & M64));
}
function uniform(key: bigint, slot: bigint | number): number {
  return Number(mix64((key + (BigInt(slot) + 1n) * G) & M64) >> 11n) / 2 ** 53;
}
function below(key: bigint, slot: number, m: number): number {
  return Math.min(Math.floor(uniform(key, slot) * m), m - 1);
}

/** The draw of image k re-derived from the documented slots (resolved defaults in `o`). */
function expectedDraw(o: Required<NonNullable<PerturbOptions['patch']>> & { blendRate: number; alphaMin: number; alphaMax: number; noiseRate: number; sigma: number; kind: string }, shape: Shape, seed: number, counter: number, k: number): PerturbDraw {
  const [n, c, h, w] = shape;
  const key = streamKey(seed, counter, k);
  const d: PerturbDraw = { key: key.toString(16).padStart(16, '0'), blend: null, patches: [], noise: null };
  if (n > 1 && uniform(key, 0) < o.blendRate) d.blend = { alpha: o.alphaMin + (o.alphaMax - o.alphaMin) * uniform(key, 1), partner: (k + 1 + below(key, 2, n - 1)) % n };
  if (uniform(key, 10) < o.rate)
    for (let j = 0; j < o.count; ++j) {
      const s0 = 100 + 8 * j;
      const size = o.sizeMin + below(key, s0, o.sizeMax - o.sizeMin + 1);
      const fill = o.fill === 'mixed' ? (['gray', 'color', 'texture'] as const)[below(key, s0 + 3, 3)] : o.fill;
      const level = fill === 'texture' ? [] : fill === 'gray' ? Array(c).fill(uniform(key, s0 + 4)) : Array.from({ length: c }, (_, ch) => uniform(key, s0 + 4 + ch));
      d.patches.push({ top: below(key, s0 + 1, h - size + 1), left: below(key, s0 + 2, w - size + 1), size, fill, level });
    }
  if (uniform(key, 20) < o.noiseRate) {
    const kind = o.kind === 'mixed' ? (['uniform', 'checker'] as const)[below(key, 21, 2)] : (o.kind as 'uniform' | 'checker');
    if (kind === 'checker') {
      const period = 1 + below(key, 22, 2);
      d.noise = { kind, sigma: o.sigma, period, phaseY: below(key, 23, 2 * period), phaseX: below(key, 24, 2 * period) };
    } else d.noise = { kind, sigma: o.sigma, period: 0, phaseY: 0, phaseX: 0 };
  }
  return d;
}

/** Image k's output recomputed in float64 from its draw (and, for texture / uniform noise, its stream key). */
function reference(views: Float32Array, shape: Shape, k: number, d: PerturbDraw, norm: { mean: number[]; std: number[] } | null): Float64Array {
  const [, c, h, w] = shape;
  const hw = h * w, per = c * hw;
  const src = views.subarray(k * per, (k + 1) * per);
  if (!d.blend && d.patches.length === 0 && !d.noise) return Float64Array.from(src);
  const m = (ch: number) => (norm ? norm.mean[ch] : 0), s = (ch: number) => (norm ? norm.std[ch] : 1);
  const x = Float64Array.from(src, (v, i) => v * s(Math.floor(i / hw)) + m(Math.floor(i / hw)));
  if (d.blend) {
    const { partner, alpha } = d.blend;
    for (let i = 0; i < per; ++i) x[i] = (1 - alpha) * x[i] + alpha * (views[partner * per + i] * s(Math.floor(i / hw)) + m(Math.floor(i / hw)));
  }
  const key = BigInt('0x' + d.key);
  d.patches.forEach((p, j) => {
    for (let ch = 0; ch < c; ++ch)
      for (let y = 0; y < p.size; ++y)
        for (let xx = 0; xx < p.size; ++xx)
          x[ch * hw + (p.top + y) * w + p.left + xx] =
            p.fill === 'texture' ? uniform(key, TEXTURE_BASE + BigInt(j) * (1n << 40n) + BigInt((ch * p.size + y) * p.size + xx)) : p.level[ch];
  });
  if (d.noise) {
    const { kind, sigma, period, phaseY, phaseX } = d.noise;
    for (let i = 0; i < per; ++i) {
      const y = Math.floor((i % hw) / w), xx = i % w;
      if (kind === 'uniform') x[i] += sigma * (2 * uniform(key, NOISE_BASE + BigInt(i)) - 1);
      else x[i] += (Math.floor((y + phaseY) / period) + Math.floor((xx + phaseX) / period)) % 2 === 0 ? sigma : -sigma;
    }
  }
  return x.map((v, i) => {
    const ch = Math.floor(i / hw);
    return (Math.min(1, Math.max(0, v)) - m(ch)) / s(ch);
  });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; ++i) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return a.length === b.length ? worst : Infinity;
}

function image(a: Float32Array, shape: Shape, k: number): Float32Array {
  const per = shape[1] * shape[2] * shape[3];
  return a.subarray(k * per, (k + 1) * per);
}

function fired(d: PerturbDraw): boolean {
  return d.blend !== null || d.patches.length > 0 || d.noise !== null;
}

// ---- (a) every image recomputed from its draws ----
test('each image equals its float64 recomputation from the draws; the draws follow the documented stream', () => {
  const seed = freshSeed('perturb reference');
  const cases: { shape: Shape; normalize: AugmentNormalize; patch: { fill: 'mixed' | 'gray' | 'color' | 'texture'; count: number; sizeMin: number; sizeMax: number }; kind: 'uniform' | 'checker' | 'mixed' }[] = [
    { shape: [24, 3, 20, 24], normalize: 'cifar10', patch: { fill: 'mixed', count: 3, sizeMin: 2, sizeMax: 9 }, kind: 'mixed' },
    { shape: [16, 1, 17, 13], normalize: { mean: [0.5], std: [0.25] }, patch: { fill: 'texture', count: 2, sizeMin: 1, sizeMax: 13 }, kind: 'checker' },
    { shape: [12, 3, 8, 8], normalize: 'none', patch: { fill: 'color', count: 1, sizeMin: 8, sizeMax: 8 }, kind: 'uniform' },
    { shape: [1, 3, 10, 10], normalize: 'cifar10', patch: { fill: 'gray', count: 4, sizeMin: 3, sizeMax: 5 }, kind: 'mixed' },
  ];
  cases.forEach((cs, ci) => {
    const views = makeViews(cs.shape, seed + ci, normOf(cs.normalize));
    const before = views.slice();
    const counter = 1000 + ci;
    const opts: PerturbOptions = {
      seed, counter, normalize: cs.normalize, returnDraws: true,
      patch: { rate: 0.6, ...cs.patch },
      blend: { rate: 0.5, alphaMin: 0.05, alphaMax: 0.45 },
      noise: { rate: 0.5, sigma: 0.2, kind: cs.kind },
    };
    const r = perturbBatch(views, cs.shape, opts);
    assert.deepEqual(views, before, 'the input is untouched');
    assert.equal(r.images.length, views.length);
    assert.equal(r.draws!.length, cs.shape[0]);
    const resolved = { ...cs.patch, rate: 0.6, blendRate: 0.5, alphaMin: 0.05, alphaMax: 0.45, noiseRate: 0.5, sigma: 0.2, kind: cs.kind };
    let nFired = 0;
    for (let k = 0; k < cs.shape[0]; ++k) {
      const d = r.draws![k];
      assert.deepEqual(d, expectedDraw(resolved, cs.shape, seed, counter, k), `case ${ci} image ${k}: draw`);
      const err = maxDiff(image(r.images, cs.shape, k), reference(views, cs.shape, k, d, normOf(cs.normalize)));
      assert.ok(err <= 1e-5, `case ${ci} image ${k}: max |diff| ${err} (${JSON.stringify(d)})`);
      if (fired(d)) ++nFired;
      else assert.deepEqual(image(r.images, cs.shape, k), image(views, cs.shape, k), `case ${ci} image ${k}: unperturbed is a copy`);
    }
    if (cs.shape[0] > 10) assert.ok(nFired > 0 && nFired < cs.shape[0] + 1, `case ${ci}: some images perturbed`);
    if (cs.shape[0] === 1) assert.equal(r.draws![0].blend, null, 'no blend partner in a batch of one');
  });
});

// ---- (b) rates ----
test('rate 0 returns the input exactly; rate 1 changes every image; empirical rates within a binomial bound', () => {
  const seed = freshSeed('perturb rates');
  const shape: Shape = [64, 3, 16, 16];
  const views = makeViews(shape, seed, CIFAR);
  views[5] = (1.0000003 - CIFAR.mean[0]) / CIFAR.std[0]; // slightly out of [0, 1]: still copied exactly
  for (const fam of [{}, { patch: { rate: 0 }, blend: { rate: 0 }, noise: { rate: 0 } }]) {
    const r = perturbBatch(views, shape, { seed, counter: 1, normalize: 'cifar10', ...fam });
    assert.deepEqual(r.images, views, `rate 0 ${JSON.stringify(fam)}`);
    assert.notEqual(r.images, views, 'a new array');
  }
  const families: Partial<PerturbOptions>[] = [
    { patch: { rate: 1 } }, { patch: { rate: 1, fill: 'gray' } }, { patch: { rate: 1, fill: 'texture' } },
    { blend: { rate: 1 } }, { noise: { rate: 1 } }, { noise: { rate: 1, kind: 'checker' } },
    { patch: { rate: 1 }, blend: { rate: 1 }, noise: { rate: 1 } },
  ];
  for (const fam of families) {
    const r = perturbBatch(views, shape, { seed, counter: 2, normalize: 'cifar10', returnDraws: true, ...fam });
    for (let k = 0; k < shape[0]; ++k) {
      assert.notDeepEqual(image(r.images, shape, k), image(views, shape, k), `${JSON.stringify(fam)}: image ${k} changed`);
      assert.ok(fired(r.draws![k]));
    }
  }
  // empirical rates over 2400 images, each family with its own rate; images change iff a family fired
  const big: Shape = [2400, 1, 8, 8];
  const bv = makeViews(big, seed + 1, { mean: [0.5], std: [0.5] });
  const rng = mulberry32(seed);
  const rates = { patch: 0.05 + 0.9 * rng(), blend: 0.05 + 0.9 * rng(), noise: 0.05 + 0.9 * rng() };
  const r = perturbBatch(bv, big, { seed, counter: 3, normalize: { mean: [0.5], std: [0.5] }, returnDraws: true, patch: { rate: rates.patch, sizeMax: 4, sizeMin: 2 }, blend: { rate: rates.blend }, noise: { rate: rates.noise } });
  const n = big[0];
  const counts = { patch: 0, blend: 0, noise: 0 };
  let changed = 0, any = 0;
  for (let k = 0; k < n; ++k) {
    const d = r.draws![k];
    if (d.patches.length) ++counts.patch;
    if (d.blend) ++counts.blend;
    if (d.noise) ++counts.noise;
    if (fired(d)) ++any;
    if (maxDiff(image(r.images, big, k), image(bv, big, k)) > 0) ++changed;
  }
  assert.equal(changed, any, 'exactly the images with a family fired are changed');
  for (const f of ['patch', 'blend', 'noise'] as const) {
    const p = rates[f], bound = 5 * Math.sqrt((p * (1 - p)) / n) + 1 / n;
    assert.ok(Math.abs(counts[f] / n - p) <= bound, `${f}: empirical ${counts[f] / n} vs ${p} (bound ${bound})`);
  }
  const pAny = 1 - (1 - rates.patch) * (1 - rates.blend) * (1 - rates.noise);
  assert.ok(Math.abs(any / n - pAny) <= 5 * Math.sqrt((pAny * (1 - pAny)) / n) + 1 / n, `any: ${any / n} vs ${pAny}`);
});

// ---- (c) determinism ----
test('same seed + counter -> identical; counter / seed change it; thread count does not; families draw independently', () => {
  const seed = freshSeed('perturb determinism');
  const shape: Shape = [48, 3, 32, 32];
  const views = makeViews(shape, seed, CIFAR);
  const opts: PerturbOptions = { seed, counter: 7, normalize: 'cifar10', patch: { rate: 0.5, count: 2 }, blend: { rate: 0.5 }, noise: { rate: 0.5, kind: 'mixed' }, returnDraws: true };
  const a = perturbBatch(views, shape, { ...opts, threads: 1 });
  for (const threads of [2, 3, 0]) {
    const b = perturbBatch(views, shape, { ...opts, threads });
    assert.deepEqual(b.images, a.images, `threads ${threads}`);
    assert.deepEqual(b.draws, a.draws, `threads ${threads}: draws`);
  }
  assert.deepEqual(perturbBatch(views, shape, opts).images, a.images, 'same seed + counter');
  assert.notDeepEqual(perturbBatch(views, shape, { ...opts, counter: 8 }).images, a.images, 'different counter');
  assert.notDeepEqual(perturbBatch(views, shape, { ...opts, seed: seed + 1 }).images, a.images, 'different seed');
  // changing one family's options leaves the others' draws alone
  const c = perturbBatch(views, shape, { ...opts, patch: { rate: 0.9, count: 3, fill: 'texture' } });
  for (let k = 0; k < shape[0]; ++k) {
    assert.deepEqual(c.draws![k].blend, a.draws![k].blend);
    assert.deepEqual(c.draws![k].noise, a.draws![k].noise);
  }
  // without blend, image k does not depend on the rest of the batch
  const noBlend = { ...opts, blend: undefined };
  const full = perturbBatch(views, shape, noBlend);
  const head: Shape = [5, 3, 32, 32];
  assert.deepEqual(perturbBatch(views.subarray(0, 5 * 3 * 32 * 32), head, noBlend).images, full.images.subarray(0, 5 * 3 * 32 * 32));
});

// ---- (d) ranges ----
test('patches lie fully inside with sizes in range; blend alpha in range and partner != self; choices cover their ranges', () => {
  const seed = freshSeed('perturb ranges');
  const shape: Shape = [2000, 3, 12, 20];
  const views = makeViews(shape, seed, null);
  const r = perturbBatch(views, shape, {
    seed, counter: 11, normalize: 'none', returnDraws: true,
    patch: { rate: 1, sizeMin: 3, sizeMax: 12, count: 2 }, blend: { rate: 1, alphaMin: 0.2, alphaMax: 0.35 }, noise: { rate: 1, kind: 'mixed' },
  });
  const sizes = new Set<number>(), fills = { gray: 0, color: 0, texture: 0 }, kinds = { uniform: 0, checker: 0 }, periods = [0, 0, 0];
  const partnerOffsets = new Set<number>();
  for (let k = 0; k < shape[0]; ++k) {
    const d = r.draws![k];
    assert.equal(d.patches.length, 2);
    for (const p of d.patches as PerturbPatch[]) {
      assert.ok(p.size >= 3 && p.size <= 12 && Number.isInteger(p.size), `size ${p.size}`);
      assert.ok(p.top >= 0 && p.left >= 0 && p.top + p.size <= 12 && p.left + p.size <= 20, `inside ${JSON.stringify(p)}`);
      for (const l of p.level) assert.ok(l >= 0 && l < 1);
      if (p.fill === 'gray') assert.ok(p.level.every((l) => l === p.level[0]));
      sizes.add(p.size);
      ++fills[p.fill];
    }
    assert.ok(d.blend && d.blend.alpha >= 0.2 && d.blend.alpha <= 0.35, `alpha ${d.blend?.alpha}`);
    assert.ok(d.blend.partner !== k && d.blend.partner >= 0 && d.blend.partner < shape[0], `partner ${d.blend.partner} of ${k}`);
    partnerOffsets.add((d.blend.partner - k + shape[0]) % shape[0]);
    ++kinds[d.noise!.kind];
    if (d.noise!.kind === 'checker') {
      ++periods[d.noise!.period];
      assert.ok(d.noise!.phaseY >= 0 && d.noise!.phaseY < 2 * d.noise!.period && d.noise!.phaseX >= 0 && d.noise!.phaseX < 2 * d.noise!.period);
    }
  }
  assert.deepEqual([...sizes].sort((a, b) => a - b), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 'every size appears');
  const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 0.05, `${what}: ${got} vs ${want}`);
  for (const f of ['gray', 'color', 'texture'] as const) near(fills[f] / 4000, 1 / 3, `fill ${f}`);
  near(kinds.checker / 2000, 0.5, 'checker');
  near(periods[1] / kinds.checker, 0.5, 'period 1');
  assert.ok(partnerOffsets.size > 1000, `partners spread (${partnerOffsets.size} offsets)`);
  // n = 3: both other images are partners
  const small = perturbBatch(makeViews([3, 1, 4, 4], seed, null), [3, 1, 4, 4], { seed, counter: 0, normalize: 'none', returnDraws: true, blend: { rate: 1 } });
  const p3 = new Set<string>();
  for (let c = 0; c < 40; ++c) {
    const d = perturbBatch(makeViews([3, 1, 4, 4], seed, null), [3, 1, 4, 4], { seed, counter: c, normalize: 'none', returnDraws: true, blend: { rate: 1 } }).draws!;
    d.forEach((x, k) => p3.add(`${k}->${x.blend!.partner}`));
  }
  assert.equal(small.draws!.length, 3);
  assert.deepEqual([...p3].sort(), ['0->1', '0->2', '1->0', '1->2', '2->0', '2->1']);
  // default sizes on a small image are clipped to its side
  const tiny = perturbBatch(makeViews([50, 1, 5, 7], seed, null), [50, 1, 5, 7], { seed, counter: 1, normalize: 'none', returnDraws: true, patch: { rate: 1 } });
  for (const d of tiny.draws!) for (const p of d.patches) assert.ok(p.size >= 4 && p.size <= 5 && p.top + p.size <= 5 && p.left + p.size <= 7);
});

// ---- (e) errors ----
function code(fn: () => unknown, want: string, mention: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MimicError, `not a MimicError: ${String(e)}`);
    assert.equal(e.code, want, e.message);
    assert.match(e.message, mention);
    return true;
  });
}

test('bad options give typed errors naming the option', async () => {
  const shape: Shape = [2, 3, 8, 8];
  const views = makeViews(shape, 1, CIFAR);
  const base: PerturbOptions = { seed: 1, counter: 0, normalize: 'cifar10' };
  const go = (o: object, v: Float32Array = views, s: Shape = shape) => () => perturbBatch(v, s, { ...base, ...o } as PerturbOptions);
  code(go({}, new Float64Array(384) as unknown as Float32Array), 'E_DTYPE', /views/);
  code(go({}, views.subarray(1)), 'E_SHAPE_MISMATCH', /views/);
  code(go({}, views, [2, 3, 8] as unknown as Shape), 'E_INVALID_ARGUMENT', /shape/);
  code(go({}, views, [2, 3, 8.5, 8]), 'E_INVALID_ARGUMENT', /shape\[2\]/);
  code(go({ normalize: 'none' }, new Float32Array(2 * 2 * 64), [2, 2, 8, 8]), 'E_INVALID_ARGUMENT', /channels/);
  code(go({ patch: { rate: 1.5 } }), 'E_INVALID_ARGUMENT', /patch\.rate/);
  code(go({ patch: {} }), 'E_INVALID_ARGUMENT', /patch\.rate/);
  code(go({ blend: { rate: -0.1 } }), 'E_INVALID_ARGUMENT', /blend\.rate/);
  code(go({ noise: { rate: NaN } }), 'E_NON_FINITE', /noise\.rate/);
  code(go({ noise: { rate: '0.5' } }), 'E_INVALID_ARGUMENT', /noise\.rate/);
  code(go({ patch: { rate: 1, sizeMin: 0 } }), 'E_INVALID_ARGUMENT', /patch\.sizeMin/);
  code(go({ patch: { rate: 1, sizeMax: 9 } }), 'E_INVALID_ARGUMENT', /patch\.sizeMax/);
  code(go({ patch: { rate: 1, sizeMin: 6, sizeMax: 5 } }), 'E_INVALID_ARGUMENT', /patch\.sizeMin/);
  code(go({ patch: { rate: 1, sizeMin: 2.5 } }), 'E_INVALID_ARGUMENT', /patch\.sizeMin/);
  code(go({ patch: { rate: 1, count: 0 } }), 'E_INVALID_ARGUMENT', /patch\.count/);
  code(go({ patch: { rate: 1, count: 5000 } }), 'E_INVALID_ARGUMENT', /patch\.count/);
  code(go({ patch: { rate: 1, fill: 'plaid' } }), 'E_INVALID_ARGUMENT', /patch\.fill/);
  code(go({ blend: { rate: 1, alphaMin: 0.5, alphaMax: 0.2 } }), 'E_INVALID_ARGUMENT', /blend\.alphaMin/);
  code(go({ blend: { rate: 1, alphaMax: 1.5 } }), 'E_INVALID_ARGUMENT', /blend\.alphaMax/);
  code(go({ blend: { rate: 1, alphaMin: -0.1 } }), 'E_INVALID_ARGUMENT', /blend\.alphaMin/);
  code(go({ noise: { rate: 1, sigma: -1 } }), 'E_INVALID_ARGUMENT', /noise\.sigma/);
  code(go({ noise: { rate: 1, sigma: Infinity } }), 'E_NON_FINITE', /noise\.sigma/);
  code(go({ noise: { rate: 1, kind: 'gauss' } }), 'E_INVALID_ARGUMENT', /noise\.kind/);
  code(go({ normalize: undefined }), 'E_INVALID_ARGUMENT', /normalize/);
  code(go({ normalize: 'imagenet' }), 'E_INVALID_ARGUMENT', /normalize/);
  code(go({ normalize: 'cifar10' }, new Float32Array(128), [2, 1, 8, 8]), 'E_SHAPE_MISMATCH', /normalize/);
  code(go({ normalize: { mean: [0.5], std: [0.5] } }), 'E_SHAPE_MISMATCH', /normalize/);
  code(go({ normalize: { mean: [0, 0, 0], std: [1, 0, 1] } }), 'E_INVALID_ARGUMENT', /normalize\.std\[1\]/);
  code(go({ normalize: { mean: [0, 0, 0], std: [1, 1, -1] } }), 'E_INVALID_ARGUMENT', /normalize\.std\[2\]/);
  code(go({ seed: -1 }), 'E_INVALID_ARGUMENT', /seed/);
  code(go({ counter: undefined }), 'E_INVALID_ARGUMENT', /counter/);
  code(go({ threads: -2 }), 'E_INVALID_ARGUMENT', /threads/);
  code(go({ patchh: { rate: 1 } }), 'E_INVALID_ARGUMENT', /patchh/);
  code(go({ patch: { rate: 1, rat: 1 } }), 'E_INVALID_ARGUMENT', /patch\.rat/);
  code(go({ blend: 0.5 }), 'E_INVALID_ARGUMENT', /blend/);
  const bad = views.slice();
  bad[200] = NaN;
  code(go({}, bad), 'E_NON_FINITE', /views.*element 200 \(image 1\)/);
  await assert.rejects(perturbBatchAsync(bad, shape, base), (e: unknown) => e instanceof MimicError && e.code === 'E_NON_FINITE' && /views/.test(e.message));
  await assert.rejects(perturbBatchAsync(views, shape, { ...base, patch: { rate: 2 } }), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && /patch\.rate/.test(e.message));
  // an empty batch is fine
  assert.equal(perturbBatch(new Float32Array(0), [0, 3, 8, 8], { ...base, patch: { rate: 1 } }).images.length, 0);
});

// ---- (f) async ----
test('perturbBatchAsync equals perturbBatch (images and draws)', async () => {
  const seed = freshSeed('perturb async');
  const shape: Shape = [32, 3, 32, 32];
  const views = makeViews(shape, seed, CIFAR);
  const opts: PerturbOptions = { seed, counter: 5, normalize: 'cifar10', patch: { rate: 0.5, count: 2 }, blend: { rate: 0.5 }, noise: { rate: 0.5, kind: 'mixed' }, returnDraws: true };
  const sync = perturbBatch(views, shape, opts);
  const [a1, a2] = await Promise.all([perturbBatchAsync(views, shape, { ...opts, threads: 2 }), perturbBatchAsync(views, shape, { ...opts, threads: 1 })]);
  for (const a of [a1, a2]) {
    assert.deepEqual(a.images, sync.images);
    assert.deepEqual(a.draws, sync.draws);
  }
});
