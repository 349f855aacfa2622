// Downstream classifiers on features: weighted kNN against a float64 brute-force reference, the linear probe and
// BadEncoder's MLP on separable clusters (and their determinism), and the CA / ASR counting helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitKnn, topK } from '../lib/eval/knn.ts';
import { fitLinearProbe } from '../lib/eval/linear.ts';
import { fitMlp } from '../lib/eval/mlp.ts';
import { denseGradients } from '../lib/eval/dense.ts';
import { accuracy, attackSuccessRate, type LabelledFeatures } from '../lib/eval/types.ts';
import { MimicError } from '../lib/errors.ts';
import { freshSeed, gaussian, mulberry32 } from './helpers.ts';

/** Reference: float64 cosine similarities, a full sort, exp(sim / t) weights; returns probabilities and the k-th gap. */
function knnReference(train: LabelledFeatures, test: Float32Array, rows: number, k: number, t: number, C: number) {
  const D = train.cols;
  const norm = (x: Float32Array, i: number) => {
    let s = 0;
    for (let d = 0; d < D; ++d) s += x[i * D + d] ** 2;
    return Math.sqrt(s);
  };
  const tn = Array.from({ length: train.rows }, (_, j) => norm(train.data, j));
  const out: { probs: number[]; gap: number; pred: number; margin: number }[] = [];
  for (let i = 0; i < rows; ++i) {
    const qn = norm(test, i);
    const sims = Array.from({ length: train.rows }, (_, j) => {
      let s = 0;
      for (let d = 0; d < D; ++d) s += test[i * D + d] * train.data[j * D + d];
      return { s: s / (qn * tn[j]), j };
    });
    sims.sort((a, b) => b.s - a.s);
    const kk = Math.min(k, train.rows);
    const score = new Array(C).fill(0);
    for (let r = 0; r < kk; ++r) score[train.labels[sims[r].j]] += Math.exp(sims[r].s / t);
    const sum = score.reduce((a, b) => a + b, 0);
    const probs = score.map((s) => s / sum);
    const sorted = [...probs].sort((a, b) => b - a);
    const pred = probs.indexOf(Math.max(...probs));
    out.push({ probs, gap: kk < train.rows ? sims[kk - 1].s - sims[kk].s : Infinity, pred, margin: sorted[0] - (sorted[1] ?? 0) });
  }
  return out;
}

test('kNN matches a float64 brute-force reference (chunked similarities, top-k, exp(sim/t) votes)', async () => {
  const seed = freshSeed('knn reference');
  const r = mulberry32(seed);
  const N = 1200, D = 24, C = 7, M = 250;
  const centers = gaussian(C * D, seed + 1, 1);
  const labels = Int32Array.from({ length: N }, () => Math.floor(r() * C));
  const data = gaussian(N * D, seed + 2, 1.2);
  for (let i = 0; i < N; ++i) for (let d = 0; d < D; ++d) data[i * D + d] += centers[labels[i] * D + d];
  const test_ = gaussian(M * D, seed + 3, 1.5);
  const train = { data, rows: N, cols: D, labels };
  for (const [k, t] of [[50, 0.3], [200, 0.5]] as const) {
    // a small chunk: several similarity blocks, the last one short, double-buffered
    const knn = fitKnn(train, { k, t, chunkElements: N * 37 });
    const got = await knn.scores({ data: test_, rows: M, cols: D });
    const ref = knnReference(train, test_, M, k, t, C);
    let skipped = 0;
    for (let i = 0; i < M; ++i) {
      if (ref[i].gap < 1e-5) {
        ++skipped; // float32 similarities may order the k-th and (k+1)-th neighbours either way
        continue;
      }
      for (let c = 0; c < C; ++c)
        assert.ok(Math.abs(got.probabilities[i * C + c] - ref[i].probs[c]) < 1e-4, `k ${k} row ${i} class ${c}: ${got.probabilities[i * C + c]} vs ${ref[i].probs[c]}`);
      if (ref[i].margin > 1e-4) assert.equal(got.predictions[i], ref[i].pred, `k ${k} row ${i}`);
    }
    assert.ok(skipped < M * 0.05, `${skipped} rows with near-tied k-th neighbours`);
    assert.deepEqual(await knn.predict({ data: test_, rows: M, cols: D }), got.predictions);
  }
  // k above the training size uses every row
  const small = { data: data.slice(0, 10 * D), rows: 10, cols: D, labels: labels.slice(0, 10) };
  const all = await fitKnn(small, { k: 200, numClasses: C }).scores({ data: test_.subarray(0, 5 * D), rows: 5, cols: D });
  const ref = knnReference(small, test_, 5, 10, 0.5, C);
  for (let i = 0; i < 5; ++i) for (let c = 0; c < C; ++c) assert.ok(Math.abs(all.probabilities[i * C + c] - ref[i].probs[c]) < 1e-5);
});

test('topK keeps the k largest values', () => {
  const seed = freshSeed('topK');
  const r = mulberry32(seed);
  for (const [n, k] of [[1, 1], [5, 10], [100, 1], [1000, 37], [64, 64]]) {
    const row = Float32Array.from({ length: n }, () => r());
    const hs = new Float32Array(k), hi = new Int32Array(k);
    const kk = topK(row, k, hs, hi);
    assert.equal(kk, Math.min(n, k));
    const want = [...row].sort((a, b) => b - a).slice(0, kk);
    assert.deepEqual([...hs.subarray(0, kk)].sort((a, b) => b - a), want);
    for (let j = 0; j < kk; ++j) assert.equal(row[hi[j]], hs[j]);
  }
});

function clusters(n: number, D: number, C: number, seed: number, spread = 1): LabelledFeatures {
  const centers = gaussian(C * D, seed, 3);
  const data = gaussian(n * D, seed + 1, spread);
  const labels = Int32Array.from({ length: n }, (_, i) => i % C);
  for (let i = 0; i < n; ++i) for (let d = 0; d < D; ++d) data[i * D + d] += centers[labels[i] * D + d] + 5; // offset: not centred
  return { data, rows: n, cols: D, labels };
}

test('linear probe and MLP separate clusters; same seed, same weights; another seed, other weights', async () => {
  const seed = freshSeed('linear/mlp clusters');
  const all = clusters(1200, 16, 5, seed);
  const D = 16;
  const train = { data: all.data.slice(0, 800 * D), rows: 800, cols: D, labels: all.labels.slice(0, 800) };
  const test_ = { data: all.data.slice(800 * D), rows: 400, cols: D };
  const yTest = all.labels.slice(800);

  const lin = await fitLinearProbe(train, { epochs: 40, lr: 1e-2, seed: 3 });
  const linAcc = accuracy(await lin.predict(test_), yTest);
  assert.ok(linAcc > 0.95, `linear accuracy ${linAcc}`);
  assert.ok(lin.model.losses.at(-1)! < lin.model.losses[0], `losses ${lin.model.losses[0]} -> ${lin.model.losses.at(-1)}`);

  const mlp = await fitMlp(train, { epochs: 15, lr: 1e-3, seed: 3 });
  const mlpAcc = accuracy(await mlp.predict(test_), yTest);
  assert.ok(mlpAcc > 0.95, `mlp accuracy ${mlpAcc}`);
  assert.equal(mlp.model.sizes.join(','), '16,512,256,5');

  const again = await fitMlp(train, { epochs: 2, lr: 1e-3, seed: 9 });
  const same = await fitMlp(train, { epochs: 2, lr: 1e-3, seed: 9 });
  const other = await fitMlp(train, { epochs: 2, lr: 1e-3, seed: 10 });
  for (let l = 0; l < 3; ++l) assert.deepEqual(same.model.weights[l], again.model.weights[l], `layer ${l}`);
  assert.notDeepEqual(other.model.weights[0], again.model.weights[0]);
  const lin2 = await fitLinearProbe(train, { epochs: 2, seed: 4 });
  const lin3 = await fitLinearProbe(train, { epochs: 2, seed: 4 });
  assert.deepEqual(lin2.model.weights[0], lin3.model.weights[0]);
});

test('dense network gradients (ReLU MLP, softmax cross-entropy) match float64 finite differences', () => {
  const seed = freshSeed('dense gradients');
  const sizes = [5, 7, 6, 4];
  const n = 9;
  const weights = sizes.slice(1).map((o, l) => gaussian(o * sizes[l], seed + l, 0.8));
  const biases = sizes.slice(1).map((o, l) => gaussian(o, seed + 10 + l, 0.3));
  const x = gaussian(n * sizes[0], seed + 20, 1);
  const r = mulberry32(seed);
  const labels = Int32Array.from({ length: n }, () => Math.floor(r() * 4));
  const loss64 = (W: Float64Array[], b: Float64Array[]) => {
    let total = 0;
    for (let i = 0; i < n; ++i) {
      let a = Array.from(x.subarray(i * sizes[0], (i + 1) * sizes[0]), Number);
      for (let l = 0; l < 3; ++l) {
        const z = Array.from({ length: sizes[l + 1] }, (_, o) => b[l][o] + a.reduce((s, v, k) => s + v * W[l][o * sizes[l] + k], 0));
        a = l < 2 ? z.map((v) => Math.max(0, v)) : z;
      }
      const max = Math.max(...a);
      total += Math.log(a.reduce((s, v) => s + Math.exp(v - max), 0)) + max - a[labels[i]];
    }
    return total / n;
  };
  const W64 = weights.map((w) => Float64Array.from(w)), b64 = biases.map((b) => Float64Array.from(b));
  const got = denseGradients({ sizes, weights, biases }, { data: x, rows: n, cols: sizes[0], labels });
  assert.ok(Math.abs(got.loss - loss64(W64, b64)) < 1e-5, `loss ${got.loss} vs ${loss64(W64, b64)}`);
  const h = 1e-6;
  const check = (arr: Float64Array, i: number, analytic: number, what: string) => {
    const v = arr[i];
    arr[i] = v + h;
    const up = loss64(W64, b64);
    arr[i] = v - h;
    const down = loss64(W64, b64);
    arr[i] = v;
    const fd = (up - down) / (2 * h);
    assert.ok(Math.abs(fd - analytic) < 1e-4 + 1e-3 * Math.abs(fd), `${what}: analytic ${analytic}, finite difference ${fd}`);
  };
  for (let l = 0; l < 3; ++l) {
    for (let i = 0; i < W64[l].length; ++i) check(W64[l], i, got.gW[l][i], `W${l}[${i}]`);
    for (let i = 0; i < b64[l].length; ++i) check(b64[l], i, got.gB[l][i], `b${l}[${i}]`);
  }
});

test('classifier errors: bad labels, shapes, NaN, options', async () => {
  const D = 4;
  const ok = { data: new Float32Array(3 * D).fill(1), rows: 3, cols: D, labels: Int32Array.of(0, 1, 1) };
  const code = (c: string) => (e: unknown) => e instanceof MimicError && e.code === c;
  assert.throws(() => fitKnn({ ...ok, labels: Int32Array.of(0, -1, 1) }), code('E_INVALID_ARGUMENT'));
  assert.throws(() => fitKnn({ ...ok, labels: Int32Array.of(0, 1) }), code('E_SHAPE_MISMATCH'));
  assert.throws(() => fitKnn(ok, { k: 0 }), code('E_INVALID_ARGUMENT'));
  assert.throws(() => fitKnn(ok, { numClasses: 1 }), /label 1 is outside 0\.\.0/);
  const nan = new Float32Array(3 * D).fill(1);
  nan[5] = NaN;
  assert.throws(() => fitKnn({ ...ok, data: nan }), /row 1, feature 1 is NaN/);
  await assert.rejects(fitKnn(ok).predict({ data: new Float32Array(6), rows: 2, cols: 3 }), code('E_SHAPE_MISMATCH'));
  await assert.rejects(fitLinearProbe(ok, { epochs: 0 }), code('E_INVALID_ARGUMENT'));
  await assert.rejects(fitMlp(ok, { dropout: 1 }), /dropout must be in \[0, 1\)/);
});

test('accuracy and attack success rate count what they say', () => {
  const labels = Int32Array.of(0, 1, 2, 2, 1, 0, 2);
  const pred = Int32Array.of(0, 2, 2, 2, 0, 2, 1);
  assert.equal(accuracy(pred, labels), 3 / 7);
  // target 2: non-target images are 0, 1, 4, 5 (labels 0, 1, 1, 0); predicted 2: images 1 and 5
  assert.equal(attackSuccessRate(pred, 2, labels), 2 / 4);
  // every image: predicted 2 at 1, 2, 3, 5
  assert.equal(attackSuccessRate(pred, 2, labels, false), 4 / 7);
  assert.ok(Number.isNaN(attackSuccessRate(Int32Array.of(1), 1, Int32Array.of(1))));
});
