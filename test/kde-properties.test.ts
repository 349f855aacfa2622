// Bounds, identities, invariances and statistical cases of kde-mi.md sections 4 and 6, on fresh random seeds
// (printed; replay with MIMIC_TEST_SEED=<seed>). The fp32 engine is compared with the float64 reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildInfo, estimateMI, type KernelPathName, type Quantity } from '../lib/index.ts';
import { assertClose, correlated, freshSeed, gaussian, mulberry32 } from './helpers.ts';

const abs = (values: number[]) => ({ mode: 'absolute' as const, values });

test('fp32 engine matches the float64 reference on random layers, every quantity, several bandwidths', async () => {
  const seed = freshSeed('random vs reference');
  const n = 300;
  const layers = [7, 40, 130].map((d, i) => ({ data: gaussian(n * d, seed + i, 1 + i), rows: n, cols: d }));
  const features = { data: gaussian(n * 16, seed + 9), rows: n, cols: 16 };
  const rng = mulberry32(seed);
  const labels = Int32Array.from({ length: n }, () => Math.floor(rng() * 5));
  const quantities: Quantity[] = ['I_TZ', 'I_TZ_loo', 'I_TX_up', 'I_TX_low', 'I_TY', 'H_T_up', 'H_T_low', 'H_Z_up', 'H_TZ_up', 'HSIC', 'CKA'];
  const common = { layers, features, labels, quantities, bandwidth: { values: [0.05, 0.3, 2] } };
  const ref = await estimateMI({ ...common, precision: 'fp64' });
  const paths: KernelPathName[] = ['generic', 'avx2', ...(buildInfo().kernelPath === 'avx512' ? (['avx512'] as const) : [])];
  for (const kernelPath of paths) {
    const got = await estimateMI({ ...common, kernelPath, backend: 'cpu', tile: 64 });
    got.layers.forEach((l, li) => {
      for (const q of quantities)
        l.values[q]!.forEach((v, b) => {
          const r = ref.layers[li].values[q]![b];
          const tol = q.startsWith('H_') ? 1e-4 * Math.max(1, Math.abs(r)) : q === 'HSIC' ? 1e-7 : 5e-5;
          assertClose(v, r, tol, `${kernelPath} layer ${li} ${q} bandwidth ${b}`);
        });
      assert.deepEqual(l.saturation, ref.layers[li].saturation);
    });
  }
});

test('bounds and identities: 0 <= I_low <= I_up <= ln N, I_up non-increasing in s2, I_low(s2) = I_up(4 s2)', async () => {
  const seed = freshSeed('bounds');
  const n = 500;
  const s2 = [0.01, 0.04, 0.16, 0.64, 2.56];
  const est = await estimateMI({
    layers: [{ data: gaussian(n * 5, seed), rows: n, cols: 5 }],
    bandwidth: abs(s2),
    quantities: ['I_TX_up', 'I_TX_low'],
  });
  const up = est.layers[0].values.I_TX_up!;
  const low = est.layers[0].values.I_TX_low!;
  for (let b = 0; b < s2.length; ++b) {
    assert.ok(low[b] >= -1e-6 && low[b] <= up[b] + 1e-6 && up[b] <= est.lnN + 1e-6, `bounds at s2=${s2[b]}`);
    if (b > 0) assert.ok(up[b] <= up[b - 1] + 1e-6, 'I_up must not increase with s2');
    if (b + 1 < s2.length) assertClose(low[b], up[b + 1], 2e-5, `I_low(${s2[b]}) = I_up(${s2[b + 1]})`);
  }
});

test('self-MI identity, T <-> Z symmetry, permutation / translation / rotation invariance', async () => {
  const seed = freshSeed('identities');
  const n = 400;
  const { x, y } = correlated(n, 3, 3, 0.7, 2, seed);
  const s2 = 0.3;
  const base = await estimateMI({
    layers: [{ data: x, rows: n, cols: 3 }],
    features: { data: y, rows: n, cols: 3 },
    bandwidth: abs([s2, s2 / 2]),
    quantities: ['I_TZ', 'I_TZ_loo', 'I_TX_up'],
  });
  const I = base.layers[0].values.I_TZ![0];
  // Self-MI: I(Z;Z; s2) = 2 I_up(s2) - I_up(s2/2)
  const self = await estimateMI({ layers: [{ data: x, rows: n, cols: 3 }], features: { data: x, rows: n, cols: 3 }, bandwidth: abs([s2, s2 / 2]), quantities: ['I_TZ', 'I_TX_up'] });
  const up = self.layers[0].values.I_TX_up!;
  assertClose(self.layers[0].values.I_TZ![0], 2 * up[0] - up[1], 2e-5, 'self-MI identity');
  // Swap T and Z.
  const swapped = await estimateMI({ layers: [{ data: y, rows: n, cols: 3 }], features: { data: x, rows: n, cols: 3 }, bandwidth: abs([s2]), quantities: ['I_TZ'] });
  assertClose(swapped.layers[0].values.I_TZ![0], I, 2e-5, 'symmetry');
  // Permute samples (same permutation for T and Z), translate T by 50, rotate Z by a fixed orthogonal matrix.
  const rng = mulberry32(seed + 1);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; --i) {
    const j = Math.floor(rng() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const c = Math.cos(0.7), s = Math.sin(0.7);
  const xt = new Float32Array(n * 3), yr = new Float32Array(n * 3);
  perm.forEach((p, i) => {
    for (let k = 0; k < 3; ++k) xt[i * 3 + k] = x[p * 3 + k] + 50;
    yr[i * 3] = c * y[p * 3] - s * y[p * 3 + 1];
    yr[i * 3 + 1] = s * y[p * 3] + c * y[p * 3 + 1];
    yr[i * 3 + 2] = y[p * 3 + 2];
  });
  const moved = await estimateMI({ layers: [{ data: xt, rows: n, cols: 3 }], features: { data: yr, rows: n, cols: 3 }, bandwidth: abs([s2]), quantities: ['I_TZ', 'I_TZ_loo'] });
  assertClose(moved.layers[0].values.I_TZ![0], I, 5e-5, 'permutation + translation + rotation (I_TZ)');
  assertClose(moved.layers[0].values.I_TZ_loo![0], base.layers[0].values.I_TZ_loo![0], 5e-5, 'invariance (LOO)');
});

test('layer batching and tile size do not change the result (within 1e-6)', async () => {
  const seed = freshSeed('batching');
  const n = 333;
  const layers = [3, 17, 64].map((d, i) => ({ data: gaussian(n * d, seed + i), rows: n, cols: d }));
  const features = { data: gaussian(n * 8, seed + 5), rows: n, cols: 8 };
  const q: Quantity[] = ['I_TZ', 'I_TZ_loo', 'I_TX_up', 'I_TX_low'];
  const batched = await estimateMI({ layers, features, quantities: q, bandwidth: abs([0.5, 4]), backend: 'cpu' });
  for (const [li, layer] of layers.entries()) {
    for (const tile of [1, 16, 100, 512]) {
      const one = await estimateMI({ layers: [layer], features, quantities: q, bandwidth: abs([0.5, 4]), tile, backend: 'cpu' });
      for (const name of q)
        one.layers[0].values[name]!.forEach((v, b) =>
          assertClose(v, batched.layers[li].values[name]![b], 1e-6, `layer ${li} tile ${tile} ${name}[${b}]`),
        );
    }
  }
});

test('well-separated clusters give I_up = I_low = ln K, and I(T;Y) = ln K with cluster labels', async (ctx) => {
  const seed = freshSeed('clusters');
  const K = 8, per = 50, d = 6, n = K * per;
  const rng = mulberry32(seed);
  const size = Array.from({ length: K }, () => 100 * (1 + 0.5 * rng())); // random, every pair of centres >= 50 apart
  const t = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; ++i) {
    const k = i % K;
    labels[i] = k;
    for (let j = 0; j < d; ++j) t[i * d + j] = j === k % d ? size[k] * (1 + Math.floor(k / d)) : 0;
  }
  const layers = [{ data: t, rows: n, cols: d }];
  const q: Quantity[] = ['I_TX_up', 'I_TX_low', 'I_TY'];
  // float64 reference: exact to 1e-9 even with a bandwidth far below the cluster radius' Gram resolution.
  const ref = await estimateMI({ layers, labels, bandwidth: abs([0.01]), quantities: q, precision: 'fp64' });
  for (const name of q) assertClose(ref.layers[0].values[name]![0], Math.log(K), 1e-9, `fp64 ${name}`);
  // float32 Gram distances resolve ~1e-7 x |x|^2 (here ~4e-3): the fp32 engine needs s2 well above that.
  const est = await estimateMI({ layers, labels, bandwidth: abs([10]), quantities: q });
  for (const name of q) assertClose(est.layers[0].values[name]![0], Math.log(K), 1e-3, `fp32 ${name}`);
  ctx.diagnostic('fp32 at s2 = 0.01 would read the Gram rounding (~4e-3) as within-cluster distance: see README, Precision');
});

test('Gaussian T, N = 4000: I_up and I_low within 4 sd of the published 10-seed means', async () => {
  const seed = freshSeed('gaussian table');
  // [d, s2, I_up mean, sd, I_low mean, sd] from kde-mi.md section 4 (4 sd keeps fresh-seed flakes ~1e-4).
  const cases: [number, number, number, number, number, number][] = [
    [1, 1, 0.5956, 0.009, 0.2111, 0.004],
    [2, 0.1, 3.289, 0.017, 1.96, 0.016],
    [5, 0.5, 4.368, 0.019, 1.842, 0.012],
    [10, 1, 5.8, 0.02, NaN, 0],
  ];
  for (const [i, [d, s2, up, sdUp, low, sdLow]] of cases.entries()) {
    const est = await estimateMI({ layers: [{ data: gaussian(4000 * d, seed + i), rows: 4000, cols: d }], bandwidth: abs([s2]), quantities: ['I_TX_up', 'I_TX_low'] });
    assertClose(est.layers[0].values.I_TX_up![0], up, 4 * sdUp, `d=${d} s2=${s2} I_up`);
    if (!Number.isNaN(low)) assertClose(est.layers[0].values.I_TX_low![0], low, 4 * sdLow, `d=${d} s2=${s2} I_low`);
  }
});

test('product kernel on rho = 0.8, N = 4000 (mean of 4 samples): s2 = 0.1 near 0.4784, Scott bandwidth near the true 0.5108', async () => {
  const seed = freshSeed('product kernel');
  const n = 4000;
  // One sample's estimate has sd ~0.012 here (300 seeds: scratch measurement, Scott mean 0.502), so a single draw
  // misses 0.03 now and then by chance alone: the mean of 4 independent samples (sd ~0.006) is what is checked.
  const draws = 4;
  const sums = [0, 0];
  for (let r = 0; r < draws; ++r) {
    const { x, y } = correlated(n, 1, 1, 0.8, 1, seed + 1009 * r);
    const est = await estimateMI({ layers: [{ data: x, rows: n, cols: 1 }], features: { data: y, rows: n, cols: 1 }, bandwidth: abs([0.1, Math.pow(n, -1 / 3)]), quantities: ['I_TZ', 'I_TZ_loo'] });
    sums[0] += est.layers[0].values.I_TZ![0] / draws;
    sums[1] += est.layers[0].values.I_TZ![1] / draws;
  }
  assertClose(sums[0], 0.4784, 0.03, 'I(T;Z) at s2 = 0.1 (mean of 4 samples)');
  assertClose(sums[1], 0.5108, 0.03, 'I(T;Z) at Scott s2 (mean of 4 samples)');
});

test('saturation: 25x25 2-pair with s2 = 0.1 returns ln N and reports every row saturated', async () => {
  const seed = freshSeed('saturation');
  const n = 4000;
  const { x, y } = correlated(n, 25, 25, 0.8, 2, seed);
  const est = await estimateMI({ layers: [{ data: x, rows: n, cols: 25 }], features: { data: y, rows: n, cols: 25 }, bandwidth: abs([0.1]), quantities: ['I_TZ', 'I_TZ_loo'] });
  assertClose(est.layers[0].values.I_TZ![0], Math.log(n), 1e-3, 'saturated I(T;Z)');
  assert.ok(est.layers[0].saturation[0] > 0.99, `saturation ${est.layers[0].saturation[0]}`);
  assert.ok(Number.isFinite(est.layers[0].values.I_TZ_loo![0]), 'LOO stays finite when every row underflows');
});

test('leave-one-out with isolated points is finite and matches the reference', async () => {
  const seed = freshSeed('isolated');
  const n = 120, d = 4;
  const t = gaussian(n * d, seed);
  for (let k = 0; k < d; ++k) {
    t[0 * d + k] += 30; // far from everyone: all its off-diagonal kernels underflow (exponents ~ -3e4)
    t[1 * d + k] -= 20;
  }
  const z = gaussian(n * 2, seed + 1);
  const opts = { layers: [{ data: t, rows: n, cols: d }], features: { data: z, rows: n, cols: 2 }, bandwidth: abs([0.05]), quantities: ['I_TZ', 'I_TZ_loo'] as Quantity[] };
  const got = await estimateMI(opts);
  const ref = await estimateMI({ ...opts, precision: 'fp64' });
  for (const q of ['I_TZ', 'I_TZ_loo'] as const) {
    assert.ok(Number.isFinite(got.layers[0].values[q]![0]), `${q} finite`);
    assertClose(got.layers[0].values[q]![0], ref.layers[0].values[q]![0], 1e-3, q);
  }
  // Extreme isolation (exponents ~ -1e10): float32 cannot resolve the value, but it must stay finite.
  for (let k = 0; k < d; ++k) t[k] += 1e4;
  const extreme = await estimateMI(opts);
  for (const q of ['I_TZ', 'I_TZ_loo'] as const) assert.ok(Number.isFinite(extreme.layers[0].values[q]![0]), `${q} finite (extreme)`);
});

test('float32 data with a large common offset: centring keeps the estimate at the offset-free value', async () => {
  const seed = freshSeed('offset 50');
  const n = 1024, d = 512;
  const t = gaussian(n * d, seed);
  // a near-duplicate pair, the case where uncentred Gram distances go negative
  for (let k = 0; k < d; ++k) t[d + k] = t[k] + 0.01 * Math.sin(k);
  const shifted = t.map((v) => v + 50);
  const q: Quantity[] = ['I_TX_up', 'I_TX_low'];
  const bw = abs([2, 64]);
  const a = await estimateMI({ layers: [{ data: t, rows: n, cols: d }], bandwidth: bw, quantities: q });
  const b = await estimateMI({ layers: [{ data: shifted, rows: n, cols: d }], bandwidth: bw, quantities: q });
  for (const name of q) b.layers[0].values[name]!.forEach((v, i) => assertClose(v, a.layers[0].values[name]![i], 1e-5, `${name}[${i}]`));
});

test('automatic tile for wide layers (192 or 384) equals small explicit tiles', async () => {
  const seed = freshSeed('auto tile');
  const n = 1600, d = 1100;
  const layers = [{ data: gaussian(n * d, seed), rows: n, cols: d }];
  const features = { data: gaussian(n * 8, seed + 1), rows: n, cols: 8 };
  const q: Quantity[] = ['I_TZ', 'I_TZ_loo', 'I_TX_up'];
  const auto = await estimateMI({ layers, features, quantities: q, bandwidth: abs([d, 8 * d]), backend: 'cpu' });
  assert.equal(auto.work.tile, 384);
  const small = await estimateMI({ layers, features, quantities: q, bandwidth: abs([d, 8 * d]), backend: 'cpu', tile: 50 });
  for (const name of q) small.layers[0].values[name]!.forEach((v, b) => assertClose(v, auto.layers[0].values[name]![b], 1e-6, `${name}[${b}]`));
});

test('relative bandwidths: scale statistic is seeded, reported, and sigma^2 = factor x scale', async () => {
  const seed = freshSeed('relative');
  const n = 600;
  const data = gaussian(n * 10, seed, 3);
  const run = (s: number) => estimateMI({ layers: [{ data, rows: n, cols: 10 }], bandwidth: { values: [0.5, 2], pairs: 20000, seed: s }, quantities: ['I_TX_up'] });
  const a = await run(1), b = await run(1), c = await run(2);
  assert.equal(a.layers[0].scale, b.layers[0].scale);
  assert.notEqual(a.layers[0].scale, c.layers[0].scale);
  // median of chi-square(10) x 2 x 9 = 2 x 9 x 9.342: within 10%
  assertClose(a.layers[0].scale, 2 * 9 * 9.342, 0.1 * 2 * 9 * 9.342, 'median squared distance');
  assert.deepEqual(a.layers[0].s2, [0.5 * a.layers[0].scale, 2 * a.layers[0].scale]);
  const mean = await estimateMI({ layers: [{ data, rows: n, cols: 10 }], bandwidth: { values: [1], scale: 'meanSqNorm' }, quantities: ['I_TX_up'] });
  assertClose(mean.layers[0].scale, 2 * 9 * 10, 0.1 * 180, 'mean squared distance');
});

test('features saturation: the share of rows at Z\'s own ceiling, as the layers\' (1 at a tiny Z bandwidth, where I_TZ reads I_TX_up)', async () => {
  const seed = freshSeed('feature saturation');
  const N = 200;
  const layer = { data: gaussian(N * 6, seed), rows: N, cols: 6, name: 't' };
  const z = { data: gaussian(N * 3, seed + 1), rows: N, cols: 3 };
  const at = async (factor: number, precision: 'fp32' | 'fp64') =>
    estimateMI({ layers: [layer], features: z, bandwidth: { values: [1] }, featureBandwidth: { values: [factor] }, quantities: ['I_TZ', 'I_TX_up'], precision });
  const tiny = await at(1e-6, 'fp32');
  assert.deepEqual(tiny.features!.saturation, [1]);
  assert.ok(Math.abs(tiny.layers[0].values.I_TZ![0] - tiny.layers[0].values.I_TX_up![0]) < 1e-4, 'a saturated Z: I_TZ reads I_TX_up');
  for (const factor of [1e-6, 0.05, 1]) {
    const [a, b] = [await at(factor, 'fp32'), await at(factor, 'fp64')];
    // the same rows but for one or two that sit on the 1e-3 threshold
    assert.ok(Math.abs(a.features!.saturation[0] - b.features!.saturation[0]) <= 2 / N, `factor ${factor}: fp32 ${a.features!.saturation} vs the float64 reference ${b.features!.saturation}`);
  }
  const wide = await at(1, 'fp32');
  assert.equal(wide.features!.saturation[0], 0);
});
