// MI-guided localisation end to end: a conv encoder built in TypeScript and the PyTorch ResNet-18 fixture, the
// library API and the `mimic layers` / `mimic mi` commands, MIMIC's weights, and typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConvEncoder, localize, mimicBeta, MimicError, ModelBuilder, writeNpy, type ImageDataset } from '../lib/index.ts';
import { assertClose, freshSeed, smoothImages } from './helpers.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'resnet18_w8.onnx');
const cli = join(import.meta.dirname, '..', 'bin', 'mimic.js');

const randomImages = (n: number, c: number, size: number, seed: number): ImageDataset => smoothImages(n, c, size, seed);

test('mimicBeta: proportional weights, negatives as 0, all-zero guard, custom constants', () => {
  assert.deepEqual(mimicBeta([1, 1, 2]), [3500, 3500, 6000]);
  assert.deepEqual(mimicBeta([-0.5, 0, 2]), [1000, 1000, 11000]);
  assert.deepEqual(mimicBeta([0, -1, NaN, 0]), [3500, 3500, 3500, 3500]);
  assert.deepEqual(mimicBeta([1, 3], { base: 0, momentum: 1 }), [0.25, 0.75]);
  assert.throws(() => mimicBeta([]), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT');
});

test('localize on a TypeScript-built encoder finds its stages, is reproducible, and weights sum to L*base+momentum', async () => {
  const seed = freshSeed('localize encoder');
  const enc = buildConvEncoder({ seed, imageSize: 16, widths: [4, 8, 16], embedDim: 12 });
  const data = randomImages(150, 3, 16, seed + 1);
  const run = () => localize({ teacher: enc.bytes, data, n: 120, seed: 5, batchSize: 32, transform: { normalize: 'cifar10' } });
  const a = await run();
  assert.deepEqual(a.probes.map((p) => p.name), enc.stages.map((s) => s.name));
  assert.deepEqual(a.probes.map((p) => p.shape), enc.stages.map((s) => s.shape));
  assert.equal(a.features.dim, 12);
  assert.equal(a.n, 120);
  assert.equal(a.subset.indices.length, 120);
  for (const p of a.probes)
    for (const q of ['I_TZ', 'I_TZ_loo'] as const) p.values[q]!.forEach((v) => assert.ok(Number.isFinite(v) && v <= a.lnN + 1e-9, `${p.name} ${q} ${v}`));
  assertClose(a.beta.reduce((x, y) => x + y, 0), 3 * 1000 + 10000, 1e-6, 'sum of beta');
  const b = await run();
  assert.deepEqual(b.beta, a.beta);
  assert.equal(b.subset.sha256, a.subset.sha256);
  // naming the probes explicitly gives the same numbers
  const named = await localize({ teacher: enc.bytes, data, n: 120, seed: 5, probes: enc.stages.map((s) => s.name), features: enc.features, transform: { normalize: 'cifar10' } });
  assert.deepEqual(named.probes.map((p) => p.values.I_TZ), a.probes.map((p) => p.values.I_TZ));
});

test('localize on the PyTorch ResNet-18 fixture: four stage probes, progress, typed errors', async () => {
  const data = randomImages(80, 3, 32, 9);
  const seen: string[] = [];
  const r = await localize({ teacher: fixture, data, n: 64, transform: { normalize: 'cifar10' }, onProgress: (p) => seen.push(`${p.stage}:${p.done}/${p.total}`) });
  assert.deepEqual(r.probes.map((p) => p.shape), [[8, 32, 32], [16, 16, 16], [32, 8, 8], [64, 4, 4]]);
  assert.deepEqual(r.probes.map((p) => p.name), [1, 2, 3, 4].map((k) => `/layer${k}/layer${k}.1/Relu_1_output_0`));
  assert.ok(seen.includes('teacher:64/64') && seen.includes('mi:1/1'), seen.join(' '));
  await assert.rejects(localize({ teacher: fixture, data, n: 64, probes: ['/layer9/Relu'] }), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && /layer9/.test(e.message));
  await assert.rejects(localize({ teacher: fixture, data: randomImages(10, 1, 28, 1), n: 8 }), (e: unknown) => e instanceof MimicError && /channel|size|28/.test(e.message));
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('x', ['N', 5]);
  b.output(b.relu(x), ['N', 5]);
  await assert.rejects(localize({ teacher: b.bytes(), data, n: 8 }), (e: unknown) => e instanceof MimicError && e.code === 'E_ONNX' && /\(N, C, H, W\)/.test(e.message));
});

test('mimic layers and mimic mi on the fixture and an .npz of images', async () => {
  const layers = spawnSync(process.execPath, [cli, 'layers', fixture, '--json'], { encoding: 'utf8' });
  assert.equal(layers.status, 0, layers.stderr);
  const info = JSON.parse(layers.stdout);
  assert.equal(info.opset, 13);
  assert.equal(info.probes.length, 4);
  assert.equal(info.tensors.filter((t: { probe: boolean }) => t.probe).length, 4);
  const dir = await mkdtemp(join(tmpdir(), 'mimic-mi-'));
  const ds = randomImages(70, 3, 32, 4);
  // NHWC uint8, as NumPy users store images
  const nhwc = new Float32Array(70 * 32 * 32 * 3);
  for (let i = 0; i < 70; ++i) for (let c = 0; c < 3; ++c) for (let p = 0; p < 1024; ++p) nhwc[(i * 1024 + p) * 3 + c] = ds.pixels[(i * 3 + c) * 1024 + p];
  await writeNpy(join(dir, 'images.npy'), nhwc, [70, 32, 32, 3]);
  const mi = spawnSync(process.execPath, [cli, 'mi', '--teacher', fixture, '--data', join(dir, 'images.npy'), '--n', '50', '--normalize', 'cifar10', '--json'], { encoding: 'utf8' });
  assert.equal(mi.status, 0, mi.stderr);
  const res = JSON.parse(mi.stdout);
  assert.equal(res.n, 50);
  assert.equal(res.probes.length, 4);
  assert.equal(res.subset.selected, 50);
  const table = spawnSync(process.execPath, [cli, 'mi', '--teacher', fixture, '--data', join(dir, 'images.npy'), '--n', '50', '--normalize', 'cifar10'], { encoding: 'utf8' });
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /layer4\/layer4\.1\/Relu_1_output_0\s+64x4x4/);
  const bad = spawnSync(process.execPath, [cli, 'mi', '--teacher', join(dir, 'missing.onnx'), '--data', join(dir, 'images.npy')], { encoding: 'utf8' });
  assert.equal(bad.status, 3);
  assert.match(bad.stderr, /missing\.onnx/);
});

const fmnist = '/usr/share/datasets/fashion-mnist';
test('mimic mi on real images: the ResNet fixture on Fashion-MNIST (padded, gray to RGB)', { skip: existsSync(fmnist) ? false : `${fmnist} not present (apt-get install dataset-fashion-mnist)` }, async () => {
  const r = await localize({ teacher: fixture, data: fmnist, n: 300, seed: 2, transform: { size: 'pad', channelMode: 'convert', normalize: 'cifar10' } });
  assert.equal(r.n, 300);
  assert.equal(r.subset.count, 60000);
  assert.equal(r.probes.length, 4);
  for (const p of r.probes) {
    assert.ok(p.values.I_TZ_loo!.every(Number.isFinite));
    assert.ok(p.values.I_TZ![0] <= r.lnN + 1e-9);
  }
});

test('localize: option errors come before the model and the data are read', async () => {
  // neither path exists: an option checked after loading would report the missing file instead
  const base = { teacher: '/nonexistent/teacher.onnx', data: '/nonexistent/images' };
  for (const [bad, re] of [
    [{ n: 0 }, /^n must be a positive integer/],
    [{ batchSize: 1.5 }, /^batchSize must be a positive integer/],
    [{ teacherThreads: -1 }, /^teacherThreads must be a non-negative integer/],
    [{ provider: 'tpu' }, /^provider must be 'cpu' or 'cuda'/],
    [{ transform: { normalize: 'imagenet' } }, /^transform\.normalize must be 'none', 'cifar10'/],
    [{ quantities: ['I_XYZ'] }, /^unknown quantity 'I_XYZ'/],
    [{ weights: { bandwidthIndex: 7 } }, /^weights\.bandwidthIndex must be in \[0, 2\] \(got 7\)/],
    [{ bandwidth: [0.5], weights: { bandwidthIndex: 1 } }, /^weights\.bandwidthIndex must be in \[0, 0\]/],
    [{ weights: { base: Infinity } }, /base and momentum must be finite/],
    [{ data: null }, /^data: a dataset path or an ImageDataset/],
  ] as const)
    await assert.rejects(localize({ ...base, ...(bad as object) } as Parameters<typeof localize>[0]), (e: unknown) => {
      assert.ok(e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT', `${JSON.stringify(bad)}: ${String(e)}`);
      assert.match(e.message, re);
      return true;
    });
});
