// The Promise API under a service's conditions. Arrays handed to an async call and then transferred (postMessage)
// before it settles: the native work reads its own copies (the transferred memory is freed under it otherwise: a
// segfault), an output array detached meanwhile rejects the call, and the result equals an undisturbed call's.
// Aborted calls reject with MimicError E_ABORTED, whatever the signal's reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateMI, sgemm, Network, MimicError, specFromOnnx, localize, evaluate, mimicBeta, releaseCopyBuffers, copyBufferBytes } from '../lib/index.ts';
import { cifarResNet18Spec } from '../lib/train/models.ts';
import { buildConvEncoder, decodeModel } from '../lib/onnx/index.ts';
import { freshSeed, randomUniform as random, transferAway } from './helpers.ts';

test('estimateMI: inputs transferred right after the call give the same estimate (the engine reads copies)', async () => {
  const seed = freshSeed('detach estimateMI');
  const N = 1500, D = 512;
  const make = () => ({ layers: [{ data: random(N * D, seed), rows: N, cols: D, name: 'a' }], features: { data: random(N * 16, seed + 1), rows: N, cols: 16 }, threads: 1 });
  const quiet = await estimateMI(make());
  const req = make();
  const pending = estimateMI(req);
  transferAway(req.layers[0].data);
  transferAway(req.features.data);
  global.gc?.();
  const moved = await pending;
  assert.deepEqual(moved.layers.map((l) => l.values), quiet.layers.map((l) => l.values));
});

test('sgemm: a and b transferred during the call still give the product; c transferred rejects, naming it', async () => {
  const seed = freshSeed('detach sgemm');
  const m = 300, n = 280, k = 260;
  const args = () => ({ m, n, k, a: random(m * k, seed), b: random(k * n, seed + 1), c: new Float32Array(m * n), threads: 1 });
  const quiet = args();
  await sgemm(quiet);
  const moved = args();
  const p = sgemm(moved);
  transferAway(moved.a);
  transferAway(moved.b);
  await p;
  assert.deepEqual(moved.c, quiet.c);
  const lost = args();
  const q = sgemm(lost);
  transferAway(lost.c);
  await assert.rejects(q, (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && /sgemm\.c was detached/.test(e.message));
});

test('Network.forwardAsync / backwardAsync: inputs transferred after the call are read from copies; a detached `into` rejects', async () => {
  const enc = buildConvEncoder({ seed: 5 });
  const spec = specFromOnnx(decodeModel(enc.bytes), { weights: 'teacher' });
  const net = Network.create(spec, { threads: 1 });
  const [input] = net.inputNames;
  const [output] = net.outputNames;
  const size = spec.inputs[0].shape.reduce((a, b) => a * b, 1);
  const batch = 512, seed = freshSeed('detach network'); // a forward long enough for the transferred memory to be freed under it
  const quiet = (await net.forwardAsync({ [input]: random(batch * size, seed) }))[output].slice();
  const x = random(batch * size, seed);
  const p = net.forwardAsync({ [input]: x });
  transferAway(x);
  assert.deepEqual((await p)[output], quiet);
  // backward: the same gradients, given in place or transferred away after the call
  const dy = random(quiet.length, seed + 2);
  await net.forwardAsync({ [input]: random(batch * size, seed) });
  const g1 = (await net.backwardAsync({ [output]: dy.slice() }, true))[input];
  await net.forwardAsync({ [input]: random(batch * size, seed) });
  const dyMoved = dy.slice();
  const b = net.backwardAsync({ [output]: dyMoved }, true);
  transferAway(dyMoved);
  assert.deepEqual((await b)[input], g1);
  const into = new Float32Array(quiet.length);
  const r = net.forwardAsync({ [input]: random(batch * size, seed) }, undefined, { into: { [output]: into } });
  transferAway(into);
  await assert.rejects(r, (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && /into\..* was detached/.test(e.message));
});

test('an aborted signal rejects estimateMI, localize and evaluate with MimicError E_ABORTED', async () => {
  const fixture = new URL('./fixtures/resnet18_w8.onnx', import.meta.url).pathname;
  const images = { name: 'x', count: 8, channels: 3, height: 32, width: 32, pixels: new Uint8Array(8 * 3 * 32 * 32), labels: new Int32Array(8), source: 'x' };
  const calls: [string, (signal: AbortSignal) => Promise<unknown>][] = [
    ['estimateMI', (signal) => estimateMI({ layers: [{ data: random(64 * 4, 1), rows: 64, cols: 4 }], signal })],
    ['localize', (signal) => localize({ teacher: fixture, data: images, n: 8, signal, threads: 1 })],
    ['evaluate', (signal) => evaluate({ encoder: fixture, train: images, test: images, classifiers: ['knn'], signal })],
  ];
  for (const [name, call] of calls)
    for (const reason of [undefined, new Error('shutting down'), 'stop']) {
      const ac = new AbortController();
      ac.abort(reason);
      await assert.rejects(call(ac.signal), (e: unknown) => {
        assert.ok(e instanceof MimicError, `${name}: ${String(e)}`);
        assert.equal(e.code, 'E_ABORTED');
        assert.match(e.message, new RegExp(`^${name}: aborted`));
        return true;
      });
    }
});

test('null and out-of-range arguments are typed errors, not TypeErrors or huge allocations', async () => {
  const typed = (re: RegExp) => (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && re.test(e.message);
  await assert.rejects(estimateMI({ layers: [{ data: random(16, 1), rows: 8, cols: 2 }], bandwidth: null as never }), typed(/bandwidth must be an array of factors/));
  assert.throws(() => cifarResNet18Spec({ width: -4 }), typed(/width must be an integer in \[1, 512\]/));
  const t0 = performance.now();
  assert.throws(() => cifarResNet18Spec({ width: 1e6 }), typed(/width must be an integer in \[1, 512\] \(got 1000000\)/));
  assert.ok(performance.now() - t0 < 1000, 'the width was checked only after building the spec');
  assert.throws(() => cifarResNet18Spec({ imageSize: 4 }), typed(/imageSize must be at least 8/));
  assert.throws(() => mimicBeta(null as never), typed(/mi must be an array/));
});

test('sgemm with a strided c: only its m x n block is written back (two calls filling column halves of one matrix)', async () => {
  const seed = freshSeed('strided sgemm');
  const m = 64, n = 48, k = 32;
  const a1 = random(m * k, seed), a2 = random(m * k, seed + 1), b = random(k * n, seed + 2);
  const big = new Float32Array(m * 2 * n).fill(7); // beta 0: every element of both blocks is overwritten
  await Promise.all([
    sgemm({ m, n, k, a: a1, b, c: big, ldc: 2 * n, threads: 1 }),
    sgemm({ m, n, k, a: a2, b, c: big.subarray(n), ldc: 2 * n, threads: 1 }),
  ]);
  const left = new Float32Array(m * n), right = new Float32Array(m * n);
  await sgemm({ m, n, k, a: a1, b, c: left, threads: 1 });
  await sgemm({ m, n, k, a: a2, b, c: right, threads: 1 });
  for (let r = 0; r < m; ++r) {
    assert.deepEqual(big.subarray(r * 2 * n, r * 2 * n + n), left.subarray(r * n, (r + 1) * n), `row ${r}, left block`);
    assert.deepEqual(big.subarray(r * 2 * n + n, (r + 1) * 2 * n), right.subarray(r * n, (r + 1) * n), `row ${r}, right block`);
  }
});

test('copies reuse the buffers of earlier calls: successive calls on different data give the borrowed results', async () => {
  const seed = freshSeed('copy pool');
  const N = 300, D = 700; // 840 KB per layer: several calls reuse the same pooled blocks
  for (let r = 0; r < 4; ++r) {
    const req = (borrow: boolean) => ({ layers: [{ data: random(N * D, seed + r), rows: N, cols: D }], features: { data: random(N * 8, seed + 100 + r), rows: N, cols: 8 }, threads: 1, borrow });
    const [copied, borrowed] = [await estimateMI(req(false)), await estimateMI(req(true))];
    assert.deepEqual(copied.layers[0].values, borrowed.layers[0].values, `call ${r}`);
  }
});

test('releaseCopyBuffers frees the kept copy buffers; the next call copies into fresh ones and gives the same result', async () => {
  const seed = freshSeed('copy pool release');
  const N = 400, D = 600;
  const req = () => ({ layers: [{ data: random(N * D, seed), rows: N, cols: D }], features: { data: random(N * 8, seed + 1), rows: N, cols: 8 }, threads: 1 });
  const first = await estimateMI(req());
  const kept = copyBufferBytes();
  assert.ok(kept >= N * D * 4, `the call's copies are kept for reuse (${kept} bytes)`);
  assert.equal(releaseCopyBuffers(), kept);
  assert.equal(copyBufferBytes(), 0);
  const again = await estimateMI(req());
  assert.deepEqual(again.layers[0].values, first.layers[0].values);
  assert.ok(copyBufferBytes() >= N * D * 4);
});
