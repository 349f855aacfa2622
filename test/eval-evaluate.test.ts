// evaluate() end to end: a tiny hand-weighted ONNX encoder where the attack success rate is known in advance, the
// ResNet fixture on Fashion-MNIST (skipped without the data), typed errors, and `mimic eval` on the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { evaluate } from '../lib/eval/evaluate.ts';
import { encoderImages, prepareEncoder } from '../lib/eval/features.ts';
import { ModelBuilder } from '../lib/onnx/index.ts';
import { resolveTrigger } from '../lib/attack/trigger.ts';
import { encodeNpy } from '../lib/io/npy.ts';
import { MimicError } from '../lib/errors.ts';
import type { ImageDataset } from '../lib/data/types.ts';
import { freshSeed, mulberry32, smoothImages } from './helpers.ts';

const root = join(import.meta.dirname, '..');
const fixture = join(root, 'test', 'fixtures', 'resnet18_w8.onnx');
const cli = join(root, 'bin', 'mimic.js');
const fmnist = '/usr/share/datasets/fashion-mnist';

/**
 * A 1x8x8 -> 2 encoder: feature 0 = mean of the 2x2 block at rows/cols 6..7 (in [0, 1] units), feature 1 = the
 * constant 100/255. Cosine similarity then orders images by that block's brightness.
 */
function blockEncoder(): Uint8Array {
  const b = new ModelBuilder({ graphName: 'block' });
  const x = b.input('input', ['N', 1, 8, 8]);
  const w = new Float32Array(2 * 64);
  for (const [y, xx] of [[6, 6], [6, 7], [7, 6], [7, 7]]) w[y * 8 + xx] = 0.25;
  const W = b.initializer('W', w, [2, 64]);
  const B = b.initializer('B', [0, 100 / 255], [2]);
  const f = b.node('Gemm', [b.flatten(x), W, B], { transB: 1 }, { output: 'features' });
  b.output(f, ['N', 2]);
  return b.bytes();
}

/** Uniform 8x8 gray images: class 0 at 250, class 1 at 20, class 2 at 120; `counts` images per class. */
function uniformImages(counts: number[], name: string): ImageDataset {
  const value = [250, 20, 120];
  const n = counts.reduce((a, b) => a + b, 0);
  const pixels = new Uint8Array(n * 64);
  const labels = new Int32Array(n);
  let i = 0;
  counts.forEach((k, c) => {
    for (let j = 0; j < k; ++j, ++i) {
      pixels.fill(value[c], i * 64, (i + 1) * 64);
      labels[i] = c;
    }
  });
  return { name, count: n, channels: 1, height: 8, width: 8, pixels, labels, source: name };
}

test('evaluate: a trigger pixel moves class-1 and class-2 images to class 2, so ASR is known exactly', async () => {
  // One white pixel in the block: class 0 -> block mean 251.25 (still nearest class 0), class 1 -> 78.75 and
  // class 2 -> 153.75 (both nearest class 2 by angle). With target 2: ASR over non-target images = n1 / (n0 + n1),
  // over all images = (n1 + n2) / n.
  const encoder = blockEncoder();
  const train = uniformImages([10, 10, 10], 'train');
  const testSet = uniformImages([5, 7, 4], 'test');
  const res = await evaluate({ encoder, train, test: testSet, trigger: 'white:1@6,6', target: 2, classifiers: ['knn'], knn: { k: 3 }, encoderThreads: 1 });
  assert.equal(res.cleanAccuracy.knn, 1);
  assert.equal(res.asr!.knn, 7 / 12);
  assert.equal(res.asrAll!.knn, 11 / 16);
  assert.deepEqual(res.counts, { train: 30, test: 16, testNonTarget: 12, classes: 3 });
  assert.equal(res.encoder.featureDim, 2);
  assert.equal(res.config.trigger, 'white:1@6,6');
  // Target 0: triggered non-target images all land in class 2, none in 0; class-0 images stay in 0.
  const t0 = await evaluate({ encoder, train, test: testSet, trigger: 'white:1@6,6', target: 0, classifiers: ['knn'], knn: { k: 3 }, encoderThreads: 1 });
  assert.equal(t0.asr!.knn, 0);
  assert.equal(t0.asrAll!.knn, 5 / 16);
  // No trigger: clean accuracy only.
  const clean = await evaluate({ encoder, train, test: testSet, classifiers: ['knn', 'linear'], linear: { epochs: 60, lr: 0.05 }, encoderThreads: 1 });
  assert.equal(clean.asr, undefined);
  assert.equal(clean.cleanAccuracy.knn, 1);
  assert.ok(clean.cleanAccuracy.linear! > 0.6, `linear ${clean.cleanAccuracy.linear}`);
});

test('evaluate: the trigger is stamped after the layout change (pad, gray -> RGB), before normalisation', async () => {
  const seed = freshSeed('eval layout');
  const ds = smoothImages(3, 1, 28, seed);
  const enc = { inputShape: [3, 32, 32] as [number, number, number] };
  const trig = await resolveTrigger('white:10@21,21', { channels: 3, height: 32, width: 32 });
  const clean = await encoderImages(enc, ds, { size: 'pad', channelMode: 'convert' });
  const stamped = await encoderImages(enc, ds, { size: 'pad', channelMode: 'convert', trigger: trig });
  for (let i = 0; i < 3; ++i)
    for (let c = 0; c < 3; ++c)
      for (let y = 0; y < 32; ++y)
        for (let x = 0; x < 32; ++x) {
          const at = ((i * 3 + c) * 32 + y) * 32 + x;
          const inPatch = y >= 21 && y < 31 && x >= 21 && x < 31;
          const orig = y >= 2 && y < 30 && x >= 2 && x < 30 ? ds.pixels[i * 784 + (y - 2) * 28 + (x - 2)] : 0;
          assert.equal(clean.pixels[at], orig);
          assert.equal(stamped.pixels[at], inPatch ? 255 : orig, `image ${i} channel ${c} (${y}, ${x})`);
        }
});

test('evaluate: typed errors for missing labels, target range, a trigger that does not fit, unknown classifiers', async () => {
  const encoder = blockEncoder();
  const train = uniformImages([4, 4, 4], 'train');
  const testSet = uniformImages([2, 2, 2], 'test');
  const rejects = (o: Partial<Parameters<typeof evaluate>[0]>, re: RegExp, code = 'E_INVALID_ARGUMENT') =>
    assert.rejects(evaluate({ encoder, train, test: testSet, encoderThreads: 1, ...o }), (e: unknown) => {
      assert.ok(e instanceof MimicError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      return true;
    });
  await rejects({ train: { ...train, labels: undefined, source: '/data/unlabelled.npy' } }, /train set \/data\/unlabelled\.npy has no labels/);
  await rejects({ test: { ...testSet, labels: undefined, source: '/data/t.npz' } }, /test set \/data\/t\.npz has no labels/);
  await rejects({ trigger: 'white:1@6,6', target: 3 }, /target 3 is outside the label range 0\.\.2/);
  await rejects({ trigger: 'white:1@6,6', target: -1 }, /target -1 is outside/);
  await rejects({ trigger: 'white:3@6,6', target: 0 }, /does not fit in 8x8 images/);
  await rejects({ trigger: 'white:1@6,6' }, /needs a target/);
  await rejects({ target: 1 }, /without a trigger/);
  await rejects({ classifiers: ['knn', 'svm' as never] }, /unknown classifier "svm": choose from knn, linear, mlp/);
  await rejects({ classifiers: [] }, /at least one/);
  await rejects({ trainCount: 0 }, /trainCount must be a positive integer/);
  await rejects({ train: { ...train, channels: 3, pixels: new Uint8Array(12 * 3 * 64) } }, /3-channel images but the model takes 1/, 'E_SHAPE_MISMATCH');
  await assert.rejects(prepareEncoder(encoder, { features: 'featurez' }), /close matches: 'features'/);
  // classifier settings are refused before any image is encoded (not after minutes of features)
  for (const [o, re] of [
    [{ knn: { k: 0 } }, /knn k must be a positive integer/],
    [{ knn: { t: -1 } }, /knn t must be a positive number/],
    [{ classifiers: ['linear'], linear: { epochs: 0 } }, /epochs must be a positive integer/],
    [{ classifiers: ['mlp'], mlp: { dropout: 1.5 } }, /dropout must be in \[0, 1\)/],
    [{ classifiers: ['mlp'], mlp: { batchSize: 0 } }, /batch size must be a positive integer/],
  ] as const) {
    let encoded = 0;
    await rejects({ ...(o as object), onProgress: (p) => void (p.stage.startsWith('encode') && encoded++) }, re);
    assert.equal(encoded, 0, `${JSON.stringify(o)}: images were encoded before the settings were checked`);
  }
});

test('evaluate: the ResNet fixture on a few hundred Fashion-MNIST images (padded, gray -> RGB, white patch)', { skip: existsSync(fmnist) ? false : `${fmnist} not present (apt-get install dataset-fashion-mnist)` }, async () => {
  const stages = new Set<string>();
  const res = await evaluate({
    encoder: fixture,
    train: fmnist,
    test: fmnist,
    testOptions: { split: 'test' },
    trainCount: 400,
    testCount: 200,
    trigger: 'white:10@21,21',
    target: 0,
    normalize: 'cifar10',
    size: 'pad',
    channelMode: 'convert',
    linear: { epochs: 30 },
    mlp: { epochs: 2 },
    seed: 5,
    onProgress: (p) => stages.add(p.stage),
  });
  assert.deepEqual([...stages].sort(), ['encode-test', 'encode-train', 'encode-triggered', 'knn', 'linear', 'mlp']);
  assert.equal(res.counts.train, 400);
  assert.equal(res.counts.test, 200);
  assert.equal(res.counts.classes, 10);
  assert.ok(res.counts.testNonTarget! > 150 && res.counts.testNonTarget! < 200);
  assert.equal(res.encoder.featureDim, 64);
  // random-weight features still carry Fashion-MNIST's classes well above chance (10%)
  assert.ok(res.cleanAccuracy.knn! > 0.3, `knn CA ${res.cleanAccuracy.knn}`);
  assert.ok(res.cleanAccuracy.linear! > 0.3, `linear CA ${res.cleanAccuracy.linear}`);
  for (const k of ['knn', 'linear', 'mlp'] as const) {
    for (const v of [res.cleanAccuracy[k], res.asr![k], res.asrAll![k]]) assert.ok(v! >= 0 && v! <= 1, `${k}: ${v}`);
    // all images vs non-target ones: the target-class images can only add to the numerator in proportion
    const nAll = res.counts.test, nNon = res.counts.testNonTarget!;
    assert.ok(res.asrAll![k]! * nAll >= res.asr![k]! * nNon - 1e-9);
  }
  assert.equal(res.losses.linear!.length, 30);
  assert.equal(res.data.train.count, 60000);
});

// ---- the command line ----

const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'eval', ...args], { encoding: 'utf8' });

async function npz(dir: string, name: string, n: number, seed: number, withLabels: boolean): Promise<string> {
  const r = mulberry32(seed);
  const x = Float32Array.from({ length: n * 3 * 32 * 32 }, () => Math.round(r() * 255) / 255);
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  const files: Record<string, Uint8Array> = { 'x.npy': encodeNpy(x, [n, 3, 32, 32]) };
  if (withLabels) files['y.npy'] = encodeNpy(y, [n]);
  const file = join(dir, name);
  await writeFile(file, zipSync(files));
  return file;
}

test('mimic eval: JSON and table on small NPZ sets; exit 2 with a clear message for missing labels, a bad target or classifier', async () => {
  const seed = freshSeed('cli eval');
  const dir = await mkdtemp(join(tmpdir(), 'mimic-eval-'));
  const train = await npz(dir, 'train.npz', 60, seed, true);
  const testFile = await npz(dir, 'test.npz', 30, seed + 1, true);
  const bare = await npz(dir, 'bare.npz', 10, seed + 2, false);
  const common = ['--encoder', fixture, '--train', train, '--test', testFile, '--classifiers', 'knn,linear', '--linear-epochs', '3', '--encoder-threads', '1'];
  const r = run(...common, '--trigger', 'white:4@2,2', '--target', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(out.counts, { train: 60, test: 30, testNonTarget: 20, classes: 3 });
  assert.deepEqual(Object.keys(out.cleanAccuracy), ['knn', 'linear']);
  assert.equal(out.config.trigger, 'white:4@2,2');
  const table = run(...common, '--trigger', 'white:4@2,2', '--target', '1');
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /classifier\s+CA %\s+ASR % \(non-target\)\s+ASR % \(all\)/);
  assert.match(table.stdout, /^knn\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d$/m);
  assert.match(table.stdout, /trigger white:4@2,2, target class 1 \(20 non-target test images\)/);

  const noLabels = run('--encoder', fixture, '--train', bare, '--test', testFile);
  assert.equal(noLabels.status, 2);
  assert.match(noLabels.stderr, /E_INVALID_ARGUMENT.*train set .*bare\.npz.* has no labels/);
  const badTarget = run(...common, '--trigger', 'white:4@2,2', '--target', '7');
  assert.equal(badTarget.status, 2);
  assert.match(badTarget.stderr, /target 7 is outside the label range 0\.\.2/);
  const badClassifier = run(...common.slice(0, 6), '--classifiers', 'knn,forest');
  assert.equal(badClassifier.status, 2);
  assert.match(badClassifier.stderr, /unknown classifier "forest"/);
  const badTrigger = run(...common, '--trigger', 'white:10@30,30', '--target', '0');
  assert.equal(badTrigger.status, 2);
  assert.match(badTrigger.stderr, /does not fit in 32x32 images/);
});
