// Native seeded two-view augmentation: each transform with fixed parameters against a float64 reference written
// here (torchvision's tensor semantics), the sampled pipeline against applyFixed on its own draws, determinism
// (seed / counter / thread count), 1- and 3-channel images, empirical probabilities and crop ranges, typed errors.
// uint8 -> float: the bilinear crop-resize runs on the uint8 values and (roundResize, default) is rounded half to
// even and clamped to 0..255 as torchvision does for a uint8 tensor, then divided by 255; with roundResize false
// the interpolated value is divided by 255 directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MimicError } from '../lib/errors.ts';
import type { ImageDataset } from '../lib/data/types.ts';
import { AUGMENT_DEFAULTS, applyFixed, twoViews, twoViewsAsync, type AugmentDraw, type FixedAugment, type JitterOp, type TwoViewsOptions } from '../lib/train/augment.ts';
import { freshSeed, mulberry32 } from './helpers.ts';

const CIFAR = { mean: [0.4914, 0.4822, 0.4465], std: [0.2023, 0.1994, 0.201] };

function dataset(count: number, channels: number, height: number, width: number, seed: number): ImageDataset {
  const r = mulberry32(seed);
  const pixels = new Uint8Array(count * channels * height * width);
  for (let i = 0; i < pixels.length; ++i) pixels[i] = Math.floor(r() * 256);
  return { name: 'aug', count, channels, height, width, pixels, source: 'test' };
}

// ---- float64 reference (torchvision tensor functional) ----
function roundEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

interface Img { c: number; h: number; w: number; x: Float64Array }

function refResizedCrop(ds: ImageDataset, index: number, crop: FixedAugment['crop'], oh: number, ow: number, round: boolean): Img {
  const { channels: c, height: H, width: W } = ds;
  const x = new Float64Array(c * oh * ow);
  const axis = (inn: number, out: number) => {
    const scale = inn / out;
    return Array.from({ length: out }, (_, d) => {
      let s = (d + 0.5) * scale - 0.5;
      if (s < 0) s = 0;
      const i0 = Math.min(Math.floor(s), inn - 1);
      const i1 = i0 + (i0 < inn - 1 ? 1 : 0);
      const l1 = s - i0;
      return { i0, i1, l0: 1 - l1, l1 };
    });
  };
  const ay = axis(crop.height, oh), ax = axis(crop.width, ow);
  const base = index * c * H * W;
  const px = (ch: number, y: number, xx: number) => ds.pixels[base + ch * H * W + (crop.top + y) * W + crop.left + xx];
  for (let ch = 0; ch < c; ++ch)
    for (let y = 0; y < oh; ++y)
      for (let xo = 0; xo < ow; ++xo) {
        const a = ay[y], b = ax[xo];
        let v = a.l0 * (b.l0 * px(ch, a.i0, b.i0) + b.l1 * px(ch, a.i0, b.i1)) + a.l1 * (b.l0 * px(ch, a.i1, b.i0) + b.l1 * px(ch, a.i1, b.i1));
        if (round) v = Math.min(255, Math.max(0, roundEven(v)));
        x[ch * oh * ow + y * ow + xo] = v / 255;
      }
  return { c, h: oh, w: ow, x };
}

function refFlip(im: Img): Img {
  const x = new Float64Array(im.x.length);
  for (let ch = 0; ch < im.c; ++ch)
    for (let y = 0; y < im.h; ++y)
      for (let xx = 0; xx < im.w; ++xx) x[(ch * im.h + y) * im.w + xx] = im.x[(ch * im.h + y) * im.w + im.w - 1 - xx];
  return { ...im, x };
}
function gray(im: Img): Float64Array {
  const hw = im.h * im.w;
  const g = new Float64Array(hw);
  for (let p = 0; p < hw; ++p) g[p] = 0.299 * im.x[p] + 0.587 * im.x[hw + p] + 0.114 * im.x[2 * hw + p];
  return g;
}
function blend(im: Img, other: (i: number) => number, f: number): Img {
  return { ...im, x: im.x.map((v, i) => clamp01(f * v + (1 - f) * other(i))) };
}
function refBrightness(im: Img, f: number): Img { return blend(im, () => 0, f); }
function refContrast(im: Img, f: number): Img {
  const src = im.c === 3 ? gray(im) : im.x;
  const mean = src.reduce((a, b) => a + b, 0) / src.length;
  return blend(im, () => mean, f);
}
function refSaturation(im: Img, f: number): Img {
  if (im.c !== 3) return im;
  const g = gray(im);
  const hw = im.h * im.w;
  return blend(im, (i) => g[i % hw], f);
}
function refHue(im: Img, shift: number): Img {
  if (im.c !== 3) return im;
  const hw = im.h * im.w;
  const x = new Float64Array(im.x.length);
  for (let p = 0; p < hw; ++p) {
    const r = im.x[p], g = im.x[hw + p], b = im.x[2 * hw + p];
    const maxc = Math.max(r, g, b), minc = Math.min(r, g, b);
    const eqc = maxc === minc;
    const cr = maxc - minc;
    const s = cr / (eqc ? 1 : maxc);
    const div = eqc ? 1 : cr;
    const rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - b) / div;
    // torchvision: hr + hg + hb with masks
    const hr = maxc === r ? bc - gc : 0;
    const hg = maxc === g && maxc !== r ? 2 + rc - bc : 0;
    const hb = maxc !== g && maxc !== r ? 4 + gc - rc : 0;
    let h = ((hr + hg + hb) / 6 + 1) % 1;
    h = (((h + shift) % 1) + 1) % 1; // Python's % 1.0
    if (h >= 1) h = 0;
    const v = maxc;
    const i = Math.floor(h * 6);
    const f = h * 6 - i;
    const pp = clamp01(v * (1 - s)), q = clamp01(v * (1 - s * f)), t = clamp01(v * (1 - s * (1 - f)));
    const table = [[v, t, pp], [q, v, pp], [pp, v, t], [pp, q, v], [t, pp, v], [v, pp, q]][i % 6];
    x[p] = clamp01(table[0]);
    x[hw + p] = clamp01(table[1]);
    x[2 * hw + p] = clamp01(table[2]);
  }
  return { ...im, x };
}
function refGray(im: Img): Img {
  if (im.c !== 3) return im;
  const g = gray(im);
  return { ...im, x: Float64Array.from({ length: im.x.length }, (_, i) => g[i % g.length]) };
}
function refNormalize(im: Img, n: { mean: number[]; std: number[] } | undefined): Img {
  if (!n) return im;
  const hw = im.h * im.w;
  return { ...im, x: im.x.map((v, i) => (v - n.mean[Math.floor(i / hw)]) / n.std[Math.floor(i / hw)]) };
}

function refPipeline(ds: ImageDataset, f: FixedAugment): Float64Array {
  const size = f.size ?? 32;
  const [oh, ow] = typeof size === 'number' ? [size, size] : size;
  let im = refResizedCrop(ds, f.index ?? 0, f.crop, oh, ow, f.roundResize ?? true);
  if (f.flip) im = refFlip(im);
  if (f.jitter) {
    const j = f.jitter;
    for (const op of j.order ?? (['brightness', 'contrast', 'saturation', 'hue'] as JitterOp[])) {
      if (op === 'brightness') im = refBrightness(im, j.brightness ?? 1);
      else if (op === 'contrast') im = refContrast(im, j.contrast ?? 1);
      else if (op === 'saturation') im = refSaturation(im, j.saturation ?? 1);
      else im = refHue(im, j.hue ?? 0);
    }
  }
  if (f.grayscale) im = refGray(im);
  const norm = f.normalize === undefined ? (ds.channels === 3 ? CIFAR : undefined) : f.normalize === 'none' ? undefined : f.normalize === 'cifar10' ? CIFAR : f.normalize;
  return refNormalize(im, norm).x;
}

function assertArrayClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; ++i) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) { worst = d; at = i; }
  }
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} at ${at} (got ${a[at]}, want ${b[at]})`);
}

function checkFixed(ds: ImageDataset, f: FixedAugment, what: string, tol = 1e-5): void {
  assertArrayClose(applyFixed(ds, f), refPipeline(ds, f), tol, what);
}

// ---- fixed-parameter transforms ----
test('resized crop (bilinear, align_corners=False, no antialias) matches the reference, 1 and 3 channels', () => {
  const seed = freshSeed('augment crop');
  for (const c of [1, 3]) {
    const ds = dataset(3, c, 13, 17, seed + c);
    const crops = [
      { top: 0, left: 0, height: 13, width: 17 },
      { top: 2, left: 3, height: 5, width: 9 },
      { top: 12, left: 16, height: 1, width: 1 },
      { top: 1, left: 0, height: 12, width: 4 },
    ];
    for (const crop of crops)
      for (const size of [8, [32, 20] as [number, number], 3])
        for (const roundResize of [true, false])
          checkFixed(ds, { index: 2, crop, size, roundResize, normalize: 'none' }, `C=${c} crop ${JSON.stringify(crop)} size ${size} round ${roundResize}`, 1e-6);
  }
});

test('flip, grayscale and normalisation with fixed parameters match the reference', () => {
  const seed = freshSeed('augment flip/gray/norm');
  const crop = { top: 1, left: 2, height: 10, width: 9 };
  for (const c of [1, 3]) {
    const ds = dataset(2, c, 12, 12, seed);
    const norm = c === 3 ? CIFAR : { mean: [0.2860], std: [0.353] };
    checkFixed(ds, { index: 1, crop, size: 7, flip: true, normalize: 'none' }, `C=${c} flip`, 1e-6);
    checkFixed(ds, { index: 1, crop, size: 7, grayscale: true, normalize: 'none' }, `C=${c} gray`, 1e-6);
    checkFixed(ds, { index: 1, crop, size: 7, flip: true, grayscale: true, normalize: norm }, `C=${c} flip+gray+norm`);
    if (c === 1) // grayscale is a no-op on 1 channel
      assert.deepEqual(applyFixed(ds, { index: 1, crop, size: 7, grayscale: true, normalize: 'none' }), applyFixed(ds, { index: 1, crop, size: 7, normalize: 'none' }));
  }
  const ds3 = dataset(1, 3, 8, 8, seed + 1);
  checkFixed(ds3, { crop: { top: 0, left: 0, height: 8, width: 8 }, size: 8 }, 'default normalisation is CIFAR-10 for 3 channels');
});

test('each colour-jitter op, and orders of all four, match the reference', () => {
  const seed = freshSeed('augment jitter');
  const crop = { top: 0, left: 1, height: 11, width: 10 };
  for (const c of [1, 3]) {
    const ds = dataset(1, c, 12, 12, seed + c);
    for (const [op, values] of [['brightness', [0.6, 1.0, 1.4, 0]], ['contrast', [0.6, 1.4, 0]], ['saturation', [0.6, 1.4, 0]], ['hue', [-0.1, 0.05, 0.1, 0.5, -0.5]]] as [JitterOp, number[]][])
      for (const v of values)
        checkFixed(ds, { crop, size: 9, jitter: { [op]: v, order: [op] }, normalize: 'none' }, `C=${c} ${op} ${v}`);
    const r = mulberry32(seed + 99);
    for (let t = 0; t < 12; ++t) {
      const order = (['brightness', 'contrast', 'saturation', 'hue'] as JitterOp[]).sort(() => r() - 0.5);
      const jitter = { brightness: 0.6 + 0.8 * r(), contrast: 0.6 + 0.8 * r(), saturation: 0.6 + 0.8 * r(), hue: -0.1 + 0.2 * r(), order };
      checkFixed(ds, { crop, size: 9, flip: r() < 0.5, jitter, grayscale: r() < 0.3, normalize: c === 3 ? 'cifar10' : { mean: [0.5], std: [0.25] } }, `C=${c} jitter ${JSON.stringify(jitter)}`);
    }
  }
});

// ---- the sampled pipeline ----
function fixedOf(d: AugmentDraw, index: number, size: number): FixedAugment {
  return { index, size, crop: d.crop, flip: d.flip, grayscale: d.grayscale, jitter: d.jitter ? { brightness: d.brightness, contrast: d.contrast, saturation: d.saturation, hue: d.hue, order: d.order } : undefined };
}

test('twoViews equals applyFixed on its own draws (both views, 1 and 3 channels)', () => {
  const seed = freshSeed('augment views');
  for (const c of [1, 3]) {
    const ds = dataset(5, c, 16, 16, seed + c);
    const indices = [4, 0, 2, 2, 1, 3];
    const size = 10;
    const r = twoViews(ds, indices, { seed, counter: 7, size, returnDraws: true });
    assert.deepEqual(r.shape, [6, c, size, size]);
    const per = c * size * size;
    for (const [view, draws] of [[r.view1, r.draws1!], [r.view2, r.draws2!]] as const)
      for (let k = 0; k < indices.length; ++k)
        assert.deepEqual(view.subarray(k * per, (k + 1) * per), applyFixed(ds, fixedOf(draws[k], indices[k], size)), `C=${c} image ${k}`);
  }
});

test('same seed + counter -> identical batch; counter, seed and view change it; thread count does not', async () => {
  const seed = freshSeed('augment determinism');
  const ds = dataset(64, 3, 32, 32, seed);
  const indices = Int32Array.from({ length: 64 }, (_, i) => (i * 37) % 64);
  const a = twoViews(ds, indices, { seed, counter: 3, threads: 1 });
  const b = twoViews(ds, indices, { seed, counter: 3, threads: 4 });
  const c = twoViews(ds, indices, { seed, counter: 3 });
  const d = await twoViewsAsync(ds, indices, { seed, counter: 3, threads: 3 });
  for (const x of [b, c, d]) {
    assert.deepEqual(x.view1, a.view1);
    assert.deepEqual(x.view2, a.view2);
  }
  assert.notDeepEqual(twoViews(ds, indices, { seed, counter: 4 }).view1, a.view1);
  assert.notDeepEqual(twoViews(ds, indices, { seed: seed + 1, counter: 3 }).view1, a.view1);
  assert.notDeepEqual(a.view1, a.view2);
  // image k's augmentation depends on (seed, counter, view, k), not on the rest of the batch
  const head = twoViews(ds, indices.subarray(0, 5), { seed, counter: 3 });
  assert.deepEqual(head.view1, a.view1.subarray(0, head.view1.length));
});

test('empirical probabilities, factor ranges and crop scale/ratio ranges', () => {
  const seed = freshSeed('augment frequencies');
  const ds = dataset(1, 3, 64, 64, seed);
  const n = 6000;
  const r = twoViews(ds, new Int32Array(n), { seed, counter: 1, size: 2, returnDraws: true, threads: 0 });
  const draws = [...r.draws1!, ...r.draws2!];
  const freq = (p: (d: AugmentDraw) => boolean) => draws.filter(p).length / draws.length;
  const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 0.03, `${what}: ${got} vs ${want}`);
  near(freq((d) => d.flip), 0.5, 'flip');
  near(freq((d) => d.jitter), 0.8, 'jitter');
  near(freq((d) => d.grayscale), 0.2, 'grayscale');
  const jittered = draws.filter((d) => d.jitter);
  for (const op of ['brightness', 'contrast', 'saturation', 'hue'] as JitterOp[])
    near(jittered.filter((d) => d.order[0] === op).length / jittered.length, 0.25, `${op} first`);
  for (const d of jittered) {
    assert.equal(d.order.length, 4);
    assert.equal(new Set(d.order).size, 4);
    for (const f of [d.brightness, d.contrast, d.saturation]) assert.ok(f >= 0.6 && f <= 1.4, `factor ${f}`);
    assert.ok(d.hue >= -0.1 && d.hue <= 0.1, `hue ${d.hue}`);
  }
  let sumScale = 0;
  for (const d of draws) {
    const { top, left, height: h, width: w } = d.crop;
    assert.ok(top >= 0 && left >= 0 && top + h <= 64 && left + w <= 64, `crop inside ${JSON.stringify(d.crop)}`);
    // w = round(sqrt(A r)), h = round(sqrt(A / r)): the rounding moves each side by <= 0.5
    const scale = (h * w) / (64 * 64), ratio = w / h;
    // (the shortest side is >= sqrt(0.08 * 4096 * 3/4) - 0.5 > 15)
    assert.ok(scale >= 0.07 && scale <= 1, `scale ${scale}`);
    const e = 0.5 / 15;
    assert.ok(ratio >= (0.75 * (1 - e)) / (1 + e) && ratio <= ((4 / 3) * (1 + e)) / (1 - e), `ratio ${ratio}`);
    sumScale += scale;
  }
  // area ~ U(0.08, 1) before the rejections of crops that do not fit: the mean scale sits well inside the range
  const meanScale = sumScale / draws.length;
  assert.ok(meanScale > 0.35 && meanScale < 0.6, `mean scale ${meanScale}`);
  // probabilities 0 and 1 and disabled jitter ops
  const q = twoViews(ds, new Int32Array(200), { seed, counter: 2, size: 2, returnDraws: true, flipP: 1, jitterP: 1, grayP: 0, brightness: 0, hue: [0, 0] });
  for (const d of q.draws1!) {
    assert.ok(d.flip && d.jitter && !d.grayscale);
    assert.deepEqual([...d.order].sort(), ['contrast', 'saturation']);
  }
});

test('crop fallback is the centre crop (torchvision) when no attempt fits', () => {
  const ds = dataset(1, 1, 16, 8, 5);
  const r = twoViews(ds, [0, 0], { seed: 1, counter: 0, size: 4, scale: [2, 3], ratio: [1, 2], returnDraws: true, normalize: 'none' });
  // in_ratio 0.5 < 1: w = 8, h = round(8 / 1) = 8, top = (16 - 8) / 2
  for (const d of r.draws1!) assert.deepEqual(d.crop, { top: 4, left: 0, height: 8, width: 8 });
  const wide = twoViews(dataset(1, 3, 8, 20, 6), [0], { seed: 1, counter: 0, size: 4, cropAttempts: 0, returnDraws: true });
  // in_ratio 2.5 > 4/3: h = 8, w = round(8 * 4/3) = 11, left = (20 - 11) / 2 = 4
  assert.deepEqual(wide.draws1![0].crop, { top: 0, left: 4, height: 8, width: 11 });
});

// ---- errors ----
function code(fn: () => unknown, want: string, mention: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MimicError, `not a MimicError: ${String(e)}`);
    assert.equal(e.code, want, e.message);
    assert.match(e.message, mention);
    return true;
  });
}

test('bad inputs give typed errors naming the argument', async () => {
  const ds = dataset(2, 3, 8, 8, 1);
  const opts = { seed: 1, counter: 0 };
  code(() => twoViews({ ...ds, channels: 2, pixels: new Uint8Array(2 * 2 * 64) }, [0], opts), 'E_INVALID_ARGUMENT', /channels/);
  code(() => twoViews({ ...ds, pixels: new Uint8Array(10) }, [0], opts), 'E_SHAPE_MISMATCH', /pixels/);
  code(() => twoViews({ ...ds, pixels: new Float32Array(384) as unknown as Uint8Array }, [0], opts), 'E_DTYPE', /pixels/);
  code(() => twoViews(ds, [0, 2], opts), 'E_INVALID_ARGUMENT', /indices\[1\]/);
  code(() => twoViews(ds, [0.5], opts), 'E_INVALID_ARGUMENT', /indices\[0\]/);
  code(() => twoViews(ds, [0], { ...opts, seed: -1 }), 'E_INVALID_ARGUMENT', /seed/);
  code(() => twoViews(ds, [0], { counter: 0 } as never), 'E_INVALID_ARGUMENT', /seed/);
  code(() => twoViews(ds, [0], { ...opts, flipP: 1.5 }), 'E_INVALID_ARGUMENT', /flipP/);
  code(() => twoViews(ds, [0], { ...opts, scale: [0.5, 0.1] }), 'E_INVALID_ARGUMENT', /scale/);
  code(() => twoViews(ds, [0], { ...opts, ratio: [1] as never }), 'E_INVALID_ARGUMENT', /ratio/);
  code(() => twoViews(ds, [0], { ...opts, hue: 0.7 }), 'E_INVALID_ARGUMENT', /hue/);
  code(() => twoViews(ds, [0], { ...opts, size: 0 }), 'E_INVALID_ARGUMENT', /size/);
  code(() => twoViews(ds, [0], { ...opts, normalize: { mean: [0.5], std: [0.5] } }), 'E_SHAPE_MISMATCH', /normalize/);
  code(() => twoViews(ds, [0], { ...opts, normalize: { mean: [0, 0, 0], std: [1, 0, 1] } }), 'E_INVALID_ARGUMENT', /std/);
  code(() => twoViews(dataset(1, 1, 4, 4, 1), [0], { ...opts, normalize: 'cifar10' }), 'E_SHAPE_MISMATCH', /cifar10/);
  code(() => twoViews(ds, [0], { ...opts, flipp: 0.1 } as never), 'E_INVALID_ARGUMENT', /flipp/);
  await assert.rejects(twoViewsAsync(ds, [9], opts), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && /indices/.test(e.message));
  const crop = { top: 0, left: 0, height: 8, width: 8 };
  code(() => applyFixed(ds, { crop: { ...crop, top: 1 } }), 'E_INVALID_ARGUMENT', /crop/);
  code(() => applyFixed(ds, { crop, index: 2 }), 'E_INVALID_ARGUMENT', /index/);
  code(() => applyFixed(ds, { crop, jitter: { order: ['hue', 'hue'] } }), 'E_INVALID_ARGUMENT', /order/);
  code(() => applyFixed(ds, { crop, jitter: { order: ['blur' as JitterOp] } }), 'E_INVALID_ARGUMENT', /order/);
  code(() => applyFixed(ds, { crop, jitter: { hue: 0.6 } }), 'E_INVALID_ARGUMENT', /hue/);
  code(() => applyFixed(ds, { crop, jitter: { contrast: -1 } }), 'E_INVALID_ARGUMENT', /contrast/);
});

test('AUGMENT_DEFAULTS spells out the engine\'s defaults: given explicitly, they give the same views as omitted', () => {
  const seed = freshSeed('augment defaults');
  const ds = dataset(32, 3, 32, 32, seed);
  const indices = Int32Array.from({ length: 32 }, (_, i) => i);
  const implicit = twoViews(ds, indices, { seed, counter: 1 });
  const explicit = twoViews(ds, indices, { seed, counter: 1, ...structuredClone(AUGMENT_DEFAULTS) } as TwoViewsOptions);
  assert.deepEqual(explicit.view1, implicit.view1);
  assert.deepEqual(explicit.view2, implicit.view2);
  assert.notDeepEqual(twoViews(ds, indices, { seed, counter: 1, ...structuredClone(AUGMENT_DEFAULTS), brightness: 0.5 } as TwoViewsOptions).view1, implicit.view1);
});
