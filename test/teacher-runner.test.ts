// The teacher runner: onnxruntime in a worker thread. Outputs match PyTorch's on the committed fixture, the event
// loop keeps ticking during runs, and bad models / outputs / providers give typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TeacherRunner } from '../lib/teacher/runner.ts';
import { MimicError, readNpy } from '../lib/index.ts';
import { gaussian } from './helpers.ts';

const fixtures = join(import.meta.dirname, 'fixtures');

test('features of the PyTorch fixture match the reference, batch after batch', async () => {
  const model = await readFile(join(fixtures, 'resnet18_w8.onnx'));
  const input = await readNpy(join(fixtures, 'resnet18_w8_input.npy'));
  const want = (await readNpy(join(fixtures, 'resnet18_w8_features.npy'))).data as Float32Array;
  const runner = await TeacherRunner.create({ model, outputs: ['features'], threads: 1 });
  try {
    assert.equal(runner.provider, 'cpu');
    assert.deepEqual(runner.inputNames, ['input']);
    for (let rep = 0; rep < 2; ++rep) {
      const out = await runner.run((input.data as Float32Array).slice(), input.shape);
      assert.deepEqual(out.features.dims, [4, 64]);
      let worst = 0;
      out.features.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]))));
      assert.ok(worst < 1e-4, `max |diff| ${worst}`);
    }
  } finally {
    await runner.close();
  }
});

test('the event loop keeps ticking while the teacher runs', async () => {
  const model = await readFile(join(fixtures, 'resnet18_w8.onnx'));
  const runner = await TeacherRunner.create({ model, outputs: ['features'], threads: 1 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = Date.now();
  try {
    for (let b = 0; b < 6; ++b) await runner.run(gaussian(64 * 3 * 32 * 32, b), [64, 3, 32, 32]);
  } finally {
    clearInterval(timer);
    await runner.close();
  }
  const elapsed = Date.now() - t0;
  assert.ok(elapsed > 100, `runs too short to tell (${elapsed} ms)`);
  assert.ok(ticks >= elapsed / 5 / 4, `${ticks} ticks in ${elapsed} ms: the event loop was blocked`);
});

test('typed errors: garbage model, unknown output, wrong input shape; cuda falls back to the CPU with a message', async () => {
  await assert.rejects(TeacherRunner.create({ model: new Uint8Array([1, 2, 3, 4]), outputs: ['x'] }), (e: unknown) => e instanceof MimicError && e.code === 'E_ONNX');
  const model = await readFile(join(fixtures, 'resnet18_w8.onnx'));
  await assert.rejects(TeacherRunner.create({ model, outputs: ['nope'] }), (e: unknown) => e instanceof MimicError && /no graph output named 'nope'/.test(e.message));
  const runner = await TeacherRunner.create({ model, outputs: ['features'] });
  try {
    await assert.rejects(runner.run(new Float32Array(2 * 3 * 30 * 30), [2, 3, 30, 30]), (e: unknown) => e instanceof MimicError && e.code === 'E_ONNX');
    await assert.rejects(runner.run(null as unknown as Float32Array, [1, 3, 32, 32]), (e: unknown) => e instanceof MimicError && e.code === 'E_DTYPE');
    await assert.rejects(runner.run(new Float32Array(3 * 32 * 32), [1, 3, -32, 32]), (e: unknown) => e instanceof MimicError && /dims must be positive integers/.test(e.message));
  } finally {
    await runner.close();
  }
  // after close: a typed rejection (it used to wait forever, holding the process), and close() again is harmless
  await assert.rejects(runner.run(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]), (e: unknown) => e instanceof MimicError && /the runner is closed/.test(e.message));
  await runner.close();
  await assert.rejects(TeacherRunner.create({ model } as never), (e: unknown) => e instanceof MimicError && /outputs: an array/.test(e.message));
  const messages: string[] = [];
  const cuda = await TeacherRunner.create({ model, outputs: ['features'], provider: 'cuda', onMessage: (m) => messages.push(m) });
  try {
    if (cuda.provider === 'cpu') assert.match(messages.join('\n'), /'cuda' is not available.*CPU/);
    const out = await cuda.run(gaussian(2 * 3 * 32 * 32, 1), [2, 3, 32, 32]);
    assert.deepEqual(out.features.dims, [2, 64]);
  } finally {
    await cuda.close();
  }
});

test('runTeacherOnDataset: uneven batches give the same tensors as one batch, in index order, with progress', async () => {
  const { runTeacherOnDataset, prepareProbes, loadModel, encodeModel } = await import('../lib/index.ts');
  const model = await loadModel(join(fixtures, 'resnet18_w8.onnx'));
  const set = await prepareProbes(model, {});
  const n = 11;
  const pixels = new Uint8Array(n * 3 * 32 * 32).map((_, i) => (i * 2654435761) >>> 24);
  const data = { name: 'hash', count: n, channels: 3, height: 32, width: 32, pixels, source: 'test' };
  const tensors = [set.features, set.probes[3]].map((p) => ({ name: p.name, size: p.shape.slice(1).reduce((a, b) => a * b, 1) }));
  const spec = { channels: 3, height: 32, width: 32, normalize: 'cifar10' as const };
  const indices = [10, 3, 7, 0, 1, 2, 4, 5, 6, 8, 9];
  const progress: number[] = [];
  const bytes = encodeModel(set.model);
  const small = await runTeacherOnDataset({ model: bytes, data, indices, spec, tensors, batchSize: 3, onProgress: (d) => progress.push(d) });
  const whole = await runTeacherOnDataset({ model: bytes, data, indices, spec, tensors, batchSize: 64 });
  assert.deepEqual(progress, [3, 6, 9, 11]);
  for (let t = 0; t < tensors.length; ++t) {
    let worst = 0;
    small.outputs[t].forEach((v, i) => (worst = Math.max(worst, Math.abs(v - whole.outputs[t][i]))));
    assert.ok(worst < 1e-5, `${tensors[t].name}: batch-size dependence ${worst}`);
  }
  // row 0 is image 10: the same as running image 10 alone
  const alone = await runTeacherOnDataset({ model: bytes, data, indices: [10], spec, tensors });
  for (let k = 0; k < tensors[0].size; ++k) assert.ok(Math.abs(alone.outputs[0][k] - small.outputs[0][k]) < 1e-5);
});
