// Batching transforms against hand-computed values: scaling, per-channel normalisation (cifar10 preset and
// explicit), centred zero padding, bilinear resize (PyTorch align_corners=False values and a reference
// implementation written here), 1 <-> 3 channel adaptation, the batch iterator, and the refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toModelLayoutAsync } from '../lib/data/layout.ts';
import { MimicError } from '../lib/errors.ts';
import { batches, makeBatch, planBatch, NORMALIZATION_PRESETS } from '../lib/data/transform.ts';
import type { ImageDataset } from '../lib/data/types.ts';
import { freshSeed, mulberry32 } from './helpers.ts';

function dataset(channels: number, height: number, width: number, pixels: number[], labels?: number[]): ImageDataset {
  const count = pixels.length / (channels * height * width);
  return { name: 'tiny', count, channels, height, width, pixels: Uint8Array.from(pixels), labels: labels ? Int32Array.from(labels) : undefined, source: 'test' };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6, what = 'batch'): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; ++i)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
}

const isCode = (code: string, frag?: string) => (e: unknown) =>
  e instanceof MimicError && e.code === code && (frag === undefined || e.message.includes(frag));

test('same size and channels: uint8 / 255, then per-channel (x - mean) / std; cifar10 preset values', () => {
  const ds = dataset(3, 1, 2, [255, 0, 0, 51, 128, 255]);
  close(makeBatch(ds, [0], { channels: 3, height: 1, width: 2 }), [1, 0, 0, 0.2, 128 / 255, 1]);
  const { mean, std } = NORMALIZATION_PRESETS.cifar10;
  assert.deepEqual([mean, std], [[0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.201]]);
  const want = [(1 - 0.4914) / 0.2023, (0 - 0.4914) / 0.2023, (0 - 0.4822) / 0.1994, (0.2 - 0.4822) / 0.1994, (128 / 255 - 0.4465) / 0.201, (1 - 0.4465) / 0.201];
  close(makeBatch(ds, [0], { channels: 3, height: 1, width: 2, normalize: 'cifar10' }), want, 2e-6);
  close(makeBatch(ds, [0], { channels: 3, height: 1, width: 2, normalize: { mean: [0.5, 0, 1], std: [0.5, 2, 0.25] } }), [1, -1, 0, 0.1, (128 / 255 - 1) * 4, 0]);
  // Two images in one batch, in the order asked, into a caller's array.
  const two = dataset(1, 1, 2, [0, 255, 102, 51]);
  const out = new Float32Array(5).fill(9);
  makeBatch(two, [1, 0], { channels: 1, height: 1, width: 2 }, out);
  close(out, [0.4, 0.2, 0, 1, 9]);
});

test('pad: centred (top = floor((H-h)/2)), black before normalisation; refuses larger images', () => {
  const ds = dataset(1, 2, 2, [255, 0, 51, 102]);
  const got = makeBatch(ds, [0], { channels: 1, height: 5, width: 4, size: 'pad', normalize: { mean: [0.5], std: [0.25] } });
  const P = -2; // (0 - 0.5) / 0.25
  close(got, [
    P, P, P, P,
    P, 2, -2, P,
    P, (0.2 - 0.5) * 4, (0.4 - 0.5) * 4, P,
    P, P, P, P,
    P, P, P, P,
  ]);
  assert.throws(() => planBatch(ds, { channels: 1, height: 1, width: 4, size: 'pad' }), isCode('E_SHAPE_MISMATCH', "resize them instead (CLI --resize resize"));
});

/** Reference bilinear (half-pixel centres, PyTorch align_corners=False) on a float plane, written independently. */
function refResize(src: number[], h: number, w: number, H: number, W: number): number[] {
  const at = (y: number, x: number) => src[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
  const out: number[] = [];
  for (let Y = 0; Y < H; ++Y)
    for (let X = 0; X < W; ++X) {
      const sy = Math.max(0, ((Y + 0.5) * h) / H - 0.5), sx = Math.max(0, ((X + 0.5) * w) / W - 0.5);
      const y0 = Math.floor(sy), x0 = Math.floor(sx), fy = sy - y0, fx = sx - x0;
      out.push((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)));
    }
  return out;
}

test('resize: bilinear with half-pixel centres matches PyTorch values and a reference on random images', () => {
  // F.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4), mode='bilinear', align_corners=False)
  const up = makeBatch(dataset(1, 2, 2, [1, 2, 3, 4]), [0], { channels: 1, height: 4, width: 4, size: 'resize' });
  close(Array.from(up, (v) => v * 255), [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4], 1e-4);
  // 4x4 -> 2x2 samples the centres of the 2x2 blocks: arange(16) -> [[2.5, 4.5], [10.5, 12.5]].
  const down = makeBatch(dataset(1, 4, 4, Array.from({ length: 16 }, (_, i) => i)), [0], { channels: 1, height: 2, width: 2, size: 'resize' });
  close(Array.from(down, (v) => v * 255), [2.5, 4.5, 10.5, 12.5], 1e-4);
  // Random sizes both ways, 3 channels, normalised: against the reference.
  const seed = freshSeed('resize');
  const rng = mulberry32(seed);
  for (let trial = 0; trial < 20; ++trial) {
    const [h, w, H, W] = [1 + Math.floor(rng() * 7), 1 + Math.floor(rng() * 7), 1 + Math.floor(rng() * 9), 1 + Math.floor(rng() * 9)];
    const px = Array.from({ length: 3 * h * w }, () => Math.floor(rng() * 256));
    const got = makeBatch(dataset(3, h, w, px), [0], { channels: 3, height: H, width: W, size: 'resize', normalize: 'cifar10' });
    const { mean, std } = NORMALIZATION_PRESETS.cifar10;
    const want = [0, 1, 2].flatMap((c) =>
      refResize(px.slice(c * h * w, (c + 1) * h * w).map((v) => v / 255), h, w, H, W).map((v) => (v - mean[c]) / std[c]));
    close(got, want, 1e-5, `${h}x${w} -> ${H}x${W} (seed ${seed})`);
  }
});

test('channels: gray replicated to RGB, RGB to luminance 0.299 R + 0.587 G + 0.114 B; combined with resize', () => {
  const gray = dataset(1, 1, 2, [51, 255]);
  close(makeBatch(gray, [0], { channels: 3, height: 1, width: 2, channelMode: 'convert' }), [0.2, 1, 0.2, 1, 0.2, 1]);
  const rgb = dataset(3, 1, 2, [255, 10, 0, 20, 0, 30]);
  close(makeBatch(rgb, [0], { channels: 1, height: 1, width: 2, channelMode: 'convert' }), [0.299, (0.299 * 10 + 0.587 * 20 + 0.114 * 30) / 255]);
  // Gray 1x2 -> RGB 2x4, cifar10: each channel is the resized gray plane, normalised with its own mean/std.
  const got = makeBatch(gray, [0], { channels: 3, height: 2, width: 4, channelMode: 'convert', size: 'resize', normalize: 'cifar10' });
  const plane = refResize([0.2, 1], 1, 2, 2, 4);
  const { mean, std } = NORMALIZATION_PRESETS.cifar10;
  close(got, [0, 1, 2].flatMap((c) => plane.map((v) => (v - mean[c]) / std[c])), 1e-5);
});

test('refusals: size and channel mismatches by default, bad presets, options and indices are typed errors', () => {
  const gray = dataset(1, 28, 28, new Array(784).fill(0));
  assert.throws(() => planBatch(gray, { channels: 1, height: 32, width: 32 }), isCode('E_SHAPE_MISMATCH', "28x28 images but the model takes 32x32: pad or resize them (CLI --resize pad|resize; library size: 'pad' | 'resize')"));
  assert.throws(() => planBatch(gray, { channels: 3, height: 28, width: 28 }), isCode('E_SHAPE_MISMATCH', "convert them (CLI --convert-channels; library channelMode: 'convert')"));
  assert.throws(() => planBatch(gray, { channels: 1, height: 28, width: 28, normalize: 'cifar10' }), isCode('E_SHAPE_MISMATCH', "normalize 'cifar10' has 3/3"));
  assert.throws(() => planBatch(gray, { channels: 1, height: 28, width: 28, normalize: 'imagenet' as never }), isCode('E_INVALID_ARGUMENT', 'imagenet'));
  assert.throws(() => planBatch(gray, { channels: 1, height: 28, width: 28, normalize: { mean: [0], std: [0] } }), isCode('E_INVALID_ARGUMENT', 'std'));
  assert.throws(() => planBatch(gray, { channels: 1, height: 28, width: 28, size: 'crop' as never }), isCode('E_INVALID_ARGUMENT', 'crop'));
  assert.throws(() => planBatch(gray, { channels: 0, height: 28, width: 28 }), isCode('E_INVALID_ARGUMENT', 'channels'));
  assert.throws(() => planBatch(dataset(2, 1, 1, [0, 0]), { channels: 3, height: 1, width: 1, channelMode: 'convert' }), isCode('E_SHAPE_MISMATCH', 'only 1 <-> 3'));
  const spec = { channels: 1, height: 28, width: 28 };
  assert.throws(() => makeBatch(gray, [1], spec), isCode('E_INVALID_ARGUMENT', 'indices[0] = 1'));
  assert.throws(() => makeBatch(gray, [0], spec, new Float32Array(10)), isCode('E_SHAPE_MISMATCH', 'out holds 10'));
  const plan = planBatch(gray, spec);
  assert.throws(() => makeBatch(dataset(1, 2, 2, [0, 0, 0, 0]), [0], plan), isCode('E_SHAPE_MISMATCH', 'plan was made for 1x28x28'));
  assert.throws(() => [...batches(gray, spec, { batchSize: 0 })], isCode('E_INVALID_ARGUMENT', 'batchSize'));
});

test('batches: sizes, dropLast, seeded shuffle (a permutation, reproducible), labels aligned with data', () => {
  const n = 10;
  const ds = dataset(1, 1, 1, Array.from({ length: n }, (_, i) => i * 20), Array.from({ length: n }, (_, i) => 100 + i));
  const spec = { channels: 1, height: 1, width: 1 };
  const all = [...batches(ds, spec, { batchSize: 4 })];
  assert.deepEqual(all.map((b) => b.shape), [[4, 1, 1, 1], [4, 1, 1, 1], [2, 1, 1, 1]]);
  assert.deepEqual(all.map((b) => b.batch), [0, 1, 2]);
  assert.equal([...batches(ds, spec, { batchSize: 4, dropLast: true })].length, 2);
  const s1 = [...batches(ds, spec, { batchSize: 3, seed: 7 })];
  const s2 = [...batches(ds, spec, { batchSize: 3, seed: 7 })];
  const order = s1.flatMap((b) => Array.from(b.indices));
  assert.deepEqual(order, s2.flatMap((b) => Array.from(b.indices)));
  assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  assert.notDeepEqual(order, Array.from({ length: n }, (_, i) => i));
  for (const b of s1) {
    assert.deepEqual(Array.from(b.labels!), Array.from(b.indices, (i) => 100 + i));
    close(b.data, Array.from(b.indices, (i) => (i * 20) / 255));
  }
  const sub = [...batches(ds, spec, { batchSize: 8, indices: [9, 3] })];
  assert.deepEqual(Array.from(sub[0].indices), [9, 3]);
});

test('toModelLayoutAsync: padded gray -> RGB pixels exactly, with the event loop turning between chunks', async () => {
  const n = 40000, side = 28;
  const pixels = new Uint8Array(n * side * side);
  for (let i = 0; i < pixels.length; ++i) pixels[i] = (i * 2654435761) >>> 24;
  const gray: ImageDataset = { name: 'gray', count: n, channels: 1, height: side, width: side, pixels, source: 'gray' };
  // reference: centred in 32x32 (top = left = 2), black around, the gray plane in all three channels
  const want = new Uint8Array(n * 3 * 32 * 32);
  for (let k = 0; k < n; ++k)
    for (let ch = 0; ch < 3; ++ch)
      for (let y = 0; y < side; ++y)
        want.set(pixels.subarray((k * side + y) * side, (k * side + y + 1) * side), ((k * 3 + ch) * 32 + y + 2) * 32 + 2);
  let last = performance.now(), longest = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    longest = Math.max(longest, t - last);
    last = t;
  }, 1);
  let laid: ImageDataset;
  try {
    last = performance.now();
    laid = await toModelLayoutAsync(gray, 3, 32, 32, { size: 'pad', channelMode: 'convert' });
    longest = Math.max(longest, performance.now() - last); // the stretch since the timer's last turn
  } finally {
    clearInterval(timer);
  }
  assert.deepEqual(laid.pixels, want);
  assert.deepEqual([laid.channels, laid.height, laid.width, laid.count], [3, 32, 32, n]);
  // without the turns the loop waited ~0.56 s here (40000 images); in chunks, ~10 ms at a time
  assert.ok(longest < 250, `the event loop waited ${longest.toFixed(0)} ms`);
});
