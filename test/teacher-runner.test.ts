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
  } finally {
    await runner.close();
  }
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
