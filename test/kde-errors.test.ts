// Bad input is rejected with a typed error naming the argument, before any native work; the event loop keeps
// running during an estimate; the CUDA engine (when a GPU is here) matches the float64 reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateMI, buildInfo, MimicError, type EstimateMIOptions } from '../lib/index.ts';
import { assertClose, freshSeed, gaussian } from './helpers.ts';

const ok = (): EstimateMIOptions => ({
  layers: [{ data: new Float32Array(20), rows: 10, cols: 2, name: 'conv1' }],
  features: { data: gaussian(30, 1), rows: 10, cols: 3 },
  bandwidth: { mode: 'absolute', values: [1] },
});

async function rejects(opts: EstimateMIOptions, code: string, pattern: RegExp) {
  await assert.rejects(estimateMI(opts), (err: unknown) => {
    assert.ok(err instanceof MimicError, `expected MimicError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

test('bad inputs give typed errors that name the argument', async () => {
  const base = ok();
  base.layers[0].data = gaussian(20, 2);
  await rejects({ ...base, layers: [{ data: new Float64Array(20) as unknown as Float32Array, rows: 10, cols: 2 }] }, 'E_DTYPE', /layers\[0\]\.data must be a Float32Array/);
  await rejects({ ...base, layers: [{ data: new Float32Array(19), rows: 10, cols: 2 }] }, 'E_SHAPE_MISMATCH', /layers\[0\]\.data has 19 elements/);
  await rejects({ ...base, features: { data: new Float32Array(33), rows: 11, cols: 3 } }, 'E_SHAPE_MISMATCH', /features has 11 samples/);
  await rejects({ ...base, layers: [] }, 'E_INVALID_ARGUMENT', /layers must be a non-empty array/);
  await rejects({ ...base, layers: [{ data: new Float32Array(2), rows: 1, cols: 2 }], features: undefined, quantities: ['I_TX_up'] }, 'E_INVALID_ARGUMENT', /at least 2 samples/);
  await rejects({ ...base, labels: [0, 1, 2] }, 'E_SHAPE_MISMATCH', /labels has 3 entries/);
  await rejects({ ...base, labels: [0, 1, -2, 0, 0, 0, 0, 0, 0, 0] }, 'E_INVALID_ARGUMENT', /labels\[2\]/);
  await rejects({ ...base, quantities: ['I_TY'] }, 'E_INVALID_ARGUMENT', /labels: required for I_TY/);
  await rejects({ ...base, quantities: ['nope' as never] }, 'E_INVALID_ARGUMENT', /unknown quantity 'nope'/);
  await rejects({ ...base, features: undefined, quantities: ['I_TZ'] }, 'E_INVALID_ARGUMENT', /features: required/);
  await rejects({ ...base, bandwidth: { values: [0] } }, 'E_INVALID_ARGUMENT', /bandwidth\.values\[0\]/);
  await rejects({ ...base, bandwidth: { values: [1, 2] }, featureBandwidth: { values: [1, 2, 3] } }, 'E_SHAPE_MISMATCH', /featureBandwidth/);
  await rejects({ ...base, threads: -1 }, 'E_INVALID_ARGUMENT', /threads/);
  const nan = gaussian(20, 3);
  nan[13] = NaN;
  await rejects({ ...base, layers: [{ data: nan, rows: 10, cols: 2, name: 'conv1' }] }, 'E_NON_FINITE', /conv1.*sample 6, element 1/);
  // A large layer (many scan blocks on several threads): the FIRST non-finite value is the one reported.
  const big = gaussian(1000 * 300, 4);
  big[250 * 300 + 7] = -Infinity;
  big[180 * 300 + 299] = NaN;
  big[900 * 300] = NaN;
  await rejects({ ...base, layers: [{ data: big, rows: 1000, cols: 300, name: 'wide' }], features: undefined, quantities: ['I_TX_up'] }, 'E_NON_FINITE', /wide.*sample 180, element 299/);
  const constant = new Float32Array(20).fill(3);
  await rejects({ ...base, layers: [{ data: constant, rows: 10, cols: 2, name: 'flat' }], bandwidth: { values: [1] } }, 'E_INVALID_ARGUMENT', /flat.*zero spread/);
  if (!buildInfo().gpuAvailable) await rejects({ ...base, backend: 'cuda' }, 'E_UNSUPPORTED', /backend 'cuda'/);
});

test('bandwidths the float32 engine cannot represent, misspelt bandwidth keys and out-of-range labels are typed errors', async () => {
  const seed = freshSeed('kde range');
  const tiny = Float32Array.from(gaussian(40, seed), (v) => v * 1e-20); // squared distances ~1e-40: denormal in float32
  await rejects({ layers: [{ data: tiny, rows: 20, cols: 2, name: 'tiny' }], quantities: ['I_TX_up'] }, 'E_INVALID_ARGUMENT', /layers\[0\] \(tiny\): the bandwidth s2 = .* outside what the float32 engine can use.*precision 'fp64'/);
  const wide = gaussian(40, seed + 1);
  await rejects({ layers: [{ data: wide, rows: 20, cols: 2 }], bandwidth: { mode: 'absolute', values: [1e300] }, quantities: ['I_TX_up'] }, 'E_INVALID_ARGUMENT', /bandwidth s2 = .* outside/);
  // the float64 reference takes them (relative mode: scale-free, the same value as for data of order 1)
  const ref = await estimateMI({ layers: [{ data: tiny, rows: 20, cols: 2 }], quantities: ['I_TX_up'], precision: 'fp64' });
  const unit = await estimateMI({ layers: [{ data: Float32Array.from(tiny, (v) => v * 1e20), rows: 20, cols: 2 }], quantities: ['I_TX_up'], precision: 'fp64' });
  assertClose(ref.layers[0].values.I_TX_up![2], unit.layers[0].values.I_TX_up![2], 1e-5, 'scale-free (float32-rounded inputs)');
  await rejects({ layers: [{ data: wide, rows: 20, cols: 2 }], bandwidth: { values: [1], scal: 'medianSq' } as never }, 'E_INVALID_ARGUMENT', /bandwidth: unknown option 'scal' \(did you mean 'scale'\?\)/);
  await rejects({ layers: [{ data: wide, rows: 20, cols: 2, shape: [20, 2] } as never] }, 'E_INVALID_ARGUMENT', /layers\[0\]: unknown option 'shape'/);
  await rejects({ layers: [{ data: wide, rows: 20, cols: 2 }], labels: BigInt64Array.from({ length: 20 }, (_, i) => BigInt(i % 2 ? 2 ** 31 : 0)) as never }, 'E_INVALID_ARGUMENT', /labels\[1\] must be a non-negative integer below 2\^31 \(got 2147483648\)/);
  const bigOk = await estimateMI({ layers: [{ data: wide, rows: 20, cols: 2 }], labels: BigInt64Array.from({ length: 20 }, (_, i) => BigInt(i % 2)) as never, quantities: ['I_TY'] });
  const intOk = await estimateMI({ layers: [{ data: wide, rows: 20, cols: 2 }], labels: Int32Array.from({ length: 20 }, (_, i) => i % 2), quantities: ['I_TY'] });
  assert.deepEqual(bigOk.layers[0].values, intOk.layers[0].values, 'int64 labels (as an .npy reads them) are taken');
});

test('an estimate runs off the event loop: timers keep firing', async () => {
  const n = 6000, d = 256;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = Date.now();
  await estimateMI({ layers: [{ data: gaussian(n * d, 5), rows: n, cols: d }], bandwidth: { values: [0.1, 0.3, 1, 3] }, quantities: ['I_TX_up', 'I_TX_low'], threads: 1 });
  clearInterval(timer);
  const elapsed = Date.now() - started;
  assert.ok(elapsed > 100, `the run should take a while to make this test meaningful (${elapsed} ms)`);
  assert.ok(ticks >= elapsed / 5 / 4, `only ${ticks} timer ticks in ${elapsed} ms: the event loop was blocked`);
});

const gpu = buildInfo().gpuAvailable;
test('CUDA engine matches the float64 reference on random layers', { skip: gpu ? false : `no GPU here (${buildInfo().cudaMessage})` }, async () => {
  const seed = freshSeed('cuda vs reference');
  const n = 700;
  const layers = [5, 100, 777].map((d, i) => ({ data: gaussian(n * d, seed + i, 1 + i), rows: n, cols: d }));
  const features = { data: gaussian(n * 32, seed + 9), rows: n, cols: 32 };
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % 5);
  const quantities = ['I_TZ', 'I_TZ_loo', 'I_TX_up', 'I_TX_low', 'I_TY', 'HSIC', 'CKA'] as const;
  const common = { layers, features, labels, quantities: [...quantities], bandwidth: { values: [0.05, 0.5, 2] } };
  const ref = await estimateMI({ ...common, precision: 'fp64' });
  const got = await estimateMI({ ...common, backend: 'cuda' });
  assert.match(got.backend, /^cuda/);
  got.layers.forEach((l, li) => {
    for (const q of quantities)
      l.values[q]!.forEach((v, b) => assertClose(v, ref.layers[li].values[q]![b], q === 'HSIC' ? 1e-6 : 1e-4, `cuda layer ${li} ${q}[${b}]`));
  });
});
