// BatchNorm (train / eval / frozen, 1-D and 2-D), Relu, Add, MaxPool, AveragePool, GlobalAveragePool, Linear
// (both weight layouts), MatMul (batched and broadcast), L2 normalise and the Flatten / Reshape shapes: the
// float32 kernels against the float64 references on random shapes with fresh seeds; BatchNorm's running
// statistics against PyTorch's update formula written out in JS; frozen BatchNorm gives zero parameter gradients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../lib/native.ts';
import { freshSeed, gaussian, mulberry32 } from './helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (args: Record<string, unknown>) => any;
const ops = (native() as unknown as { ops: Record<string, Fn> & { ref: Record<string, Fn> } }).ops;

const f64 = (a: Float32Array) => Float64Array.from(a);
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
/** |fast - ref| <= tol * max(max |ref|, floor): floor is the op's natural magnitude where the result itself can
 * cancel to ~0 (BatchNorm's dx with two values per channel, L2-normalise's dx of a 1-D row). */
function close(fast: Float32Array, ref: Float64Array, what: string, tol = 2e-5, floor = 0) {
  assert.equal(fast.length, ref.length, `${what}: length`);
  let scale = floor;
  for (const v of ref) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < ref.length; ++i)
    if (!(Math.abs(fast[i] - ref[i]) <= tol * Math.max(scale, 1e-30)))
      assert.fail(`${what}: element ${i} got ${fast[i]}, expected ${ref[i]} (scale ${scale})`);
}
/** Runs the fast op and its reference on the same inputs (Float32Array args converted) and compares outputs. */
function both(name: string, args: Record<string, unknown>, outs: string[], what: string, tol = 2e-5, floor = 0) {
  const refArgs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) refArgs[k] = v instanceof Float32Array ? f64(v) : v;
  const f = ops[name](args), r = ops.ref[name](refArgs);
  for (const o of outs) close(f[o], r[o], `${what} ${name}.${o}`, tol, floor);
  return { f, r };
}

test('batchnorm: train / eval / frozen, 1-D and 2-D, forward and backward, running statistics as PyTorch', () => {
  const seed = freshSeed('batchnorm');
  const rng = mulberry32(seed);
  const shapes = [[2, 3, 4, 5], [1, 1, 3, 3], [5, 4], [3, 2, 7], [8, 16, 2, 2], [1, 3, 1, 2]];
  for (const [si, shape] of shapes.entries())
    for (const mode of ['train', 'eval', 'frozen'] as const) {
      const [n, c] = shape, m = prod(shape) / c;
      const x = gaussian(prod(shape), seed + si, 2);
      for (let i = 0; i < x.length; ++i) x[i] += 3 * ((Math.floor(i / (prod(shape) / (n * c))) % c) - 1); // per-channel offsets
      const gamma = gaussian(c, seed + 100 + si), beta = gaussian(c, seed + 200 + si);
      const runningMean = gaussian(c, seed + 300 + si, 0.1), runningVar = Float32Array.from({ length: c }, () => 0.5 + rng());
      const momentum = [0.1, 0.3, 1][si % 3], eps = [1e-5, 1e-3][si % 2];
      const args = { x, shape, gamma, beta, runningMean, runningVar, mode, momentum, eps, threads: 2 };
      const what = `${JSON.stringify(shape)} ${mode}`;
      const { f } = both('batchNormForward', args, ['y', 'saveMean', 'saveInvstd', 'runningMean', 'runningVar'], what);
      // PyTorch: running = (1 - momentum) * running + momentum * stat, unbiased variance; eval / frozen: unchanged
      for (let ch = 0; ch < c; ++ch) {
        let s = 0, sq = 0;
        for (let i = 0; i < n; ++i) for (let k = 0; k < m / n; ++k) s += x[(i * c + ch) * (m / n) + k];
        const mean = s / m;
        for (let i = 0; i < n; ++i) for (let k = 0; k < m / n; ++k) sq += (x[(i * c + ch) * (m / n) + k] - mean) ** 2;
        const wantMean = mode === 'train' ? (1 - momentum) * runningMean[ch] + momentum * mean : runningMean[ch];
        const wantVar = mode === 'train' ? (1 - momentum) * runningVar[ch] + momentum * (sq / (m - 1)) : runningVar[ch];
        assert.ok(Math.abs(f.runningMean[ch] - wantMean) <= 1e-5 * (1 + Math.abs(wantMean)), `${what} running mean ${ch}`);
        assert.ok(Math.abs(f.runningVar[ch] - wantVar) <= 1e-5 * (1 + Math.abs(wantVar)), `${what} running var ${ch}`);
        const invstd = 1 / Math.sqrt((mode === 'train' ? sq / m : runningVar[ch]) + eps);
        assert.ok(Math.abs(f.saveInvstd[ch] - invstd) <= 1e-5 * invstd, `${what} invstd ${ch}`);
      }
      const dy = gaussian(x.length, seed + 400 + si);
      let floor = 0; // |gamma * invstd * dy|: the size of dx's terms before they cancel
      for (let i = 0; i < dy.length; ++i) {
        const ch = Math.floor(i / (m / n)) % c;
        floor = Math.max(floor, Math.abs(gamma[ch] * f.saveInvstd[ch] * dy[i]));
      }
      const { f: fb } = both('batchNormBackward', { x, shape, gamma, saveMean: f.saveMean, saveInvstd: f.saveInvstd, dy, mode, eps, threads: 2 }, ['dx', 'dgamma', 'dbeta'], what, 2e-5, floor);
      if (mode === 'frozen') {
        assert.ok(fb.dgamma.every((v: number) => v === 0) && fb.dbeta.every((v: number) => v === 0), `${what}: frozen parameter gradients are zero`);
      } else {
        assert.ok(fb.dbeta.some((v: number) => v !== 0), `${what}: dbeta not zero`);
      }
    }
  // Without affine parameters / running stats (train only)
  const x = gaussian(2 * 3 * 4, seed + 999);
  both('batchNormForward', { x, shape: [2, 3, 4] }, ['y', 'saveMean', 'saveInvstd'], 'no affine');
});

test('batchnorm: a large offset over a small spread (statistics that summed x^2 around 0 would lose the variance)', () => {
  const seed = freshSeed('batchnorm offset');
  const shape = [16, 3, 8, 8], c = 3, per = 64;
  const x = gaussian(16 * 3 * 64, seed, 0.01);
  for (let i = 0; i < x.length; ++i) x[i] += [500, -300, 40][Math.floor(i / per) % c];
  const { f } = both('batchNormForward', { x, shape, mode: 'train', threads: 1 }, ['saveMean', 'saveInvstd'], 'offset 500, sd 0.01', 1e-4);
  // y = (x - mean) * invstd has unit spread; summed around 0, E[x^2] - mean^2 would have lost the variance (errors of
  // order 1). The float32 mean itself is only within half an ulp of 500 (3e-5, i.e. 3e-3 of the spread), so y is
  // held to 1e-2 of its scale.
  both('batchNormForward', { x, shape, mode: 'train', threads: 1 }, ['y'], 'offset 500, sd 0.01', 1e-2);
  assert.ok(f.saveInvstd.every((v: number) => v > 50 && v < 200), 'invstd near 1 / 0.01');
});

test('batchnorm + relu fused: equals the float32 BN then ReLU bit for bit, and the float64 composition', () => {
  const seed = freshSeed('batchnorm relu');
  for (const [si, shape] of [[4, 3, 5, 5], [2, 16, 33], [6, 5], [3, 2, 1, 1]].entries())
    for (const mode of ['train', 'eval', 'frozen'] as const) {
      const c = shape[1];
      const x = gaussian(prod(shape), seed + si, 1.5);
      const gamma = gaussian(c, seed + 10 + si), beta = gaussian(c, seed + 20 + si, 0.5);
      const runningMean = gaussian(c, seed + 30 + si, 0.1), runningVar = Float32Array.from({ length: c }, (_, k) => 0.5 + 0.1 * k);
      const base = { x, shape, gamma, beta, mode, threads: 2 };
      const stats = mode === 'train' ? {} : { runningMean, runningVar };
      const what = `${JSON.stringify(shape)} ${mode}`;
      const fused = ops.batchNormForward({ ...base, ...stats, relu: true });
      const bn = ops.batchNormForward({ ...base, ...stats });
      const y = ops.reluForward({ x: bn.y }).y as Float32Array;
      assert.deepEqual(Array.from(fused.y as Float32Array), Array.from(y), `${what}: forward vs BN then ReLU (float32)`);
      if (y.length >= 100) assert.ok(y.some((v) => v === 0) && y.some((v) => v > 0), `${what}: the ReLU clips some values and passes others`);
      const dy = gaussian(x.length, seed + 40 + si);
      const saved = { saveMean: fused.saveMean, saveInvstd: fused.saveInvstd };
      const fb = ops.batchNormBackward({ ...base, ...saved, dy, relu: true });
      const g = ops.reluBackward({ y, dy }).dx;
      const ub = ops.batchNormBackward({ ...base, ...saved, dy: g });
      for (const k of ['dx', 'dgamma', 'dbeta'])
        assert.deepEqual(Array.from(fb[k] as Float32Array), Array.from(ub[k] as Float32Array), `${what}: backward ${k} vs ReLU then BN (float32)`);
      // the float64 composition: ref BN -> ref ReLU, ref ReLU backward -> ref BN backward
      const r = ops.ref.batchNormForward({ ...base, x: f64(x), gamma: f64(gamma), beta: f64(beta), ...(mode === 'train' ? {} : { runningMean: f64(runningMean), runningVar: f64(runningVar) }) });
      const ry = ops.ref.reluForward({ x: r.y }).y;
      close(fused.y, ry, `${what}: forward vs float64`);
      const rg = ops.ref.reluBackward({ y: ry, dy: f64(dy) }).dx;
      const rb = ops.ref.batchNormBackward({ ...base, x: f64(x), gamma: f64(gamma), saveMean: r.saveMean, saveInvstd: r.saveInvstd, dy: rg });
      let floor = 0;
      for (let ch = 0; ch < c; ++ch) floor = Math.max(floor, Math.abs(gamma[ch] * fused.saveInvstd[ch]) * 4);
      for (const k of ['dx', 'dgamma', 'dbeta']) close(fb[k], rb[k], `${what}: backward ${k} vs float64`, 2e-5, k === 'dx' ? floor : 0);
    }
  assert.throws(() => ops.ref.batchNormForward({ x: new Float64Array(8), shape: [2, 4], relu: true }), /relu: the reference has no fused form/);
});

test('batchnorm: several image blocks and maps past the fold size match float64 and give the same bits at 1 and 2 threads', () => {
  const seed = freshSeed('batchnorm blocks');
  // per-channel sums run over blocks of max(1, 1024 / S) images (fixed, added in block order) and fold every 1024
  // elements of a run: 2 blocks of 64 images, 5 of 16, 5 single images of 1600-element runs, 3 blocks of 1024
  for (const [si, shape] of [[100, 3, 4, 4], [70, 4, 8, 8], [5, 2, 40, 40], [2100, 3]].entries())
    for (const relu of [false, true]) {
      const c = shape[1];
      const x = gaussian(prod(shape), seed + si, 2);
      for (let i = 0; i < x.length; i += 5) x[i] += 4; // a mean away from 0
      const gamma = gaussian(c, seed + 10 + si), beta = gaussian(c, seed + 20 + si, 0.5), dy = gaussian(x.length, seed + 30 + si);
      const what = `${JSON.stringify(shape)} relu=${relu}`;
      const run = (threads: number) => {
        const f = ops.batchNormForward({ x, shape, gamma, beta, mode: 'train', relu, threads, runningMean: new Float32Array(c), runningVar: new Float32Array(c).fill(1) });
        const b = ops.batchNormBackward({ x, shape, gamma, beta, saveMean: f.saveMean, saveInvstd: f.saveInvstd, dy, mode: 'train', relu, threads });
        return { ...f, ...b };
      };
      const one = run(1), two = run(2);
      for (const k of ['y', 'saveMean', 'saveInvstd', 'runningMean', 'runningVar', 'dx', 'dgamma', 'dbeta'])
        assert.deepEqual(Array.from(one[k] as Float32Array), Array.from(two[k] as Float32Array), `${what}: ${k} at 1 vs 2 threads`);
      if (relu) continue; // the float64 reference has no fused form; the fused op is checked against it above
      const r = ops.ref.batchNormForward({ x: f64(x), shape, gamma: f64(gamma), beta: f64(beta), mode: 'train' });
      close(one.y, r.y, `${what}: y vs float64`);
      close(one.saveInvstd, r.saveInvstd, `${what}: invstd vs float64`);
      const rb = ops.ref.batchNormBackward({ x: f64(x), shape, gamma: f64(gamma), saveMean: r.saveMean, saveInvstd: r.saveInvstd, dy: f64(dy), mode: 'train' });
      let floor = 0;
      for (let ch = 0; ch < c; ++ch) floor = Math.max(floor, Math.abs(gamma[ch] * one.saveInvstd[ch]) * 4);
      for (const k of ['dx', 'dgamma', 'dbeta']) close(one[k], rb[k], `${what}: ${k} vs float64`, 2e-5, k === 'dx' ? floor : 0);
    }
});

test('add + relu fused: equals the float32 Add then ReLU bit for bit, and the float64 composition', () => {
  const seed = freshSeed('add relu');
  for (const n of [1, 6, 100, 70000]) {  // 70000: more than one thread's grain
    const a = gaussian(n, seed + n), b = gaussian(n, seed + n + 1), dy = gaussian(n, seed + n + 2);
    if (n > 1) b[1] = -a[1];  // a + b == 0 exactly: ReLU gradient 0 there (PyTorch)
    const fused = ops.addForward({ a, b, relu: true, threads: 2 }).y as Float32Array;
    const y = ops.reluForward({ x: ops.addForward({ a, b }).y }).y as Float32Array;
    assert.deepEqual(Array.from(fused), Array.from(y), `n=${n}: forward vs Add then ReLU (float32)`);
    if (n >= 100) assert.ok(y.some((v) => v === 0) && y.some((v) => v > 0), `n=${n}: the ReLU clips some values and passes others`);
    const fb = ops.addBackward({ y: fused, dy, relu: true, threads: 2 });
    const g = ops.reluBackward({ y, dy }).dx as Float32Array;
    for (const k of ['da', 'db']) assert.deepEqual(Array.from(fb[k] as Float32Array), Array.from(g), `n=${n}: backward ${k} vs ReLU then Add (float32)`);
    if (n > 1) assert.equal(fb.da[1], 0, 'gradient 0 where a + b == 0');
    const ry = ops.ref.reluForward({ x: ops.ref.addForward({ a: f64(a), b: f64(b) }).y }).y as Float64Array;
    close(fused, ry, `n=${n}: forward vs float64`);
    const rg = ops.ref.addBackward({ dy: ops.ref.reluBackward({ y: ry, dy: f64(dy) }).dx });
    for (const k of ['da', 'db']) close(fb[k], rg[k], `n=${n}: backward ${k} vs float64`);
  }
  assert.throws(() => ops.ref.addForward({ a: new Float64Array(2), b: new Float64Array(2), relu: true }), /relu: the reference has no fused form/);
  assert.throws(() => ops.addBackward({ dy: new Float32Array(2), relu: true }), /addBackward\.y is required/);
});

test('batchnorm: bad arguments give typed errors', () => {
  const x = new Float32Array(12);
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ x, shape: [1, 12], mode: 'train' }, 'E_INVALID_ARGUMENT', /more than one value per channel/],
    [{ x, shape: [2, 6], mode: 'eval' }, 'E_INVALID_ARGUMENT', /runningMean is required/],
    [{ x, shape: [2, 6], mode: 'fast' }, 'E_INVALID_ARGUMENT', /mode must be 'train', 'eval' or 'frozen'/],
    [{ x, shape: [2, 6], gamma: new Float32Array(5) }, 'E_SHAPE_MISMATCH', /gamma has 5 elements/],
    [{ x, shape: [2, 6], momentum: 1.5 }, 'E_INVALID_ARGUMENT', /momentum/],
    [{ x, shape: [2, 6], eps: 0 }, 'E_INVALID_ARGUMENT', /eps/],
    [{ x, shape: [2, 6], runningMean: new Float32Array(6) }, 'E_INVALID_ARGUMENT', /go together/],
    [{ x, shape: [12] }, 'E_INVALID_ARGUMENT', /shape must have 2 to 4 entries/],
    [{ x: new Int32Array(12), shape: [2, 6] }, 'E_DTYPE', /batchNormForward\.x must be a Float32Array/],
  ];
  for (const [args, code, re] of cases)
    assert.throws(() => ops.batchNormForward(args), (e: { code?: string; message: string }) => e.code === code && re.test(e.message), String(re));
});

test('relu, add, global average pool, l2 normalise: fast against reference', () => {
  const seed = freshSeed('eltwise');
  for (const n of [1, 7, 100, 70000]) {
    const x = gaussian(n, seed + n), dy = gaussian(n, seed + n + 1);
    x[0] = 0; // relu at exactly 0: gradient 0 (PyTorch)
    const { f } = both('reluForward', { x }, ['y'], `n=${n}`);
    both('reluBackward', { y: f.y, dy }, ['dx'], `n=${n}`);
    assert.equal(ops.reluBackward({ y: f.y, dy }).dx[0], 0);
    both('addForward', { a: x, b: dy }, ['y'], `n=${n}`, 1e-7);
    const ab = ops.addBackward({ dy });
    assert.deepEqual([...ab.da], [...dy]);
    assert.deepEqual([...ab.db], [...dy]);
  }
  const nan = ops.reluForward({ x: new Float32Array([NaN, -1, 2]) }).y;
  assert.ok(Number.isNaN(nan[0]) && nan[1] === 0 && nan[2] === 2, 'relu propagates NaN');
  for (const xShape of [[2, 3, 4, 5], [1, 1, 1, 1], [3, 7, 9]]) {
    const x = gaussian(prod(xShape), seed + 5);
    const { f } = both('globalAvgPoolForward', { x, xShape }, ['y'], JSON.stringify(xShape));
    assert.deepEqual(f.yShape, [xShape[0], xShape[1], ...xShape.slice(2).map(() => 1)]);
    both('globalAvgPoolBackward', { xShape, dy: gaussian(xShape[0] * xShape[1], seed + 6) }, ['dx'], JSON.stringify(xShape));
  }
  for (const [n, d] of [[1, 1], [4, 64], [9, 13], [3, 512]]) {
    const x = gaussian(n * d, seed + 7 + d);
    const { f } = both('l2normForward', { x, xShape: [n, d] }, ['y'], `${n}x${d}`);
    for (let r = 0; r < n; ++r) {
      let s = 0;
      for (let j = 0; j < d; ++j) s += f.y[r * d + j] ** 2;
      assert.ok(Math.abs(s - 1) < 1e-5, `row ${r} has unit norm`);
    }
    const dy = gaussian(n * d, seed + 8);
    let floor = 0; // |dy| / ||x||: the size of dx's terms before they cancel
    for (let r = 0; r < n; ++r) {
      let s = 0, m = 0;
      for (let j = 0; j < d; ++j) {
        s += x[r * d + j] ** 2;
        m = Math.max(m, Math.abs(dy[r * d + j]));
      }
      floor = Math.max(floor, m / Math.sqrt(s));
    }
    both('l2normBackward', { x, y: f.y, dy, xShape: [n, d] }, ['dx'], `${n}x${d}`, 2e-5, floor);
  }
  // A zero row (torch.nn.functional.normalize): y = 0, dx = dy / eps
  const zx = new Float32Array(3), zdy = new Float32Array([1, -2, 0.5]);
  const zy = ops.l2normForward({ x: zx, xShape: [1, 3] }).y;
  assert.deepEqual([...zy], [0, 0, 0]);
  const zdx = ops.l2normBackward({ x: zx, y: zy, dy: zdy, xShape: [1, 3] }).dx;
  for (let j = 0; j < 3; ++j) assert.ok(Math.abs(zdx[j] / (zdy[j] * 1e12) - 1) < 1e-6, `zero row dx ${j}`);
});

test('maxpool and average pool: kernels, strides, pads, ceil mode, count_include_pad, odd sizes', () => {
  const seed = freshSeed('pool');
  const rng = mulberry32(seed);
  const ri = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const cases: Record<string, unknown>[] = [
    { xShape: [2, 3, 8, 8], kernel: [2, 2] },
    { xShape: [1, 2, 9, 9], kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] }, // ResNet stem pool, odd H
    { xShape: [2, 1, 7, 6], kernel: [3, 2], stride: [2, 1], pads: [0, 1, 2, 0] },
    { xShape: [1, 2, 7, 7], kernel: [2, 2], stride: [2, 2], ceilMode: true },
    { xShape: [1, 1, 6, 6], kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], ceilMode: true },
    { xShape: [1, 1, 1, 1], kernel: [1, 1] },
  ];
  for (let i = 0; i < 20; ++i) {
    const kh = ri(1, 4), kw = ri(1, 4);
    cases.push({ xShape: [ri(1, 3), ri(1, 3), ri(kh, 10), ri(kw, 10)], kernel: [kh, kw], stride: [ri(1, 3), ri(1, 3)], pads: [ri(0, kh - 1), ri(0, kw - 1), ri(0, kh - 1), ri(0, kw - 1)], ceilMode: rng() < 0.3 });
  }
  for (const [i, cs] of cases.entries()) {
    const xShape = cs.xShape as number[];
    const x = gaussian(prod(xShape), seed + i);
    const what = JSON.stringify(cs);
    const { f } = both('maxPoolForward', { x, ...cs }, ['y'], what, 0);
    both('maxPoolBackward', { x, dy: gaussian(f.y.length, seed + i + 1), ...cs }, ['dx'], what);
    for (const countIncludePad of [false, true]) {
      const { f: fa } = both('avgPoolForward', { x, ...cs, countIncludePad }, ['y'], what);
      both('avgPoolBackward', { dy: gaussian(fa.y.length, seed + i + 2), ...cs, countIncludePad }, ['dx'], what);
    }
  }
  // Ties route to the first maximum; NaN propagates.
  const tie = ops.maxPoolBackward({ x: new Float32Array([1, 3, 3, 0]), xShape: [1, 1, 2, 2], kernel: [2, 2], dy: new Float32Array([5]) });
  assert.deepEqual([...tie.dx], [0, 5, 0, 0]);
  const nanY = ops.maxPoolForward({ x: new Float32Array([1, NaN, 3, 0]), xShape: [1, 1, 2, 2], kernel: [2, 2] }).y;
  assert.ok(Number.isNaN(nanY[0]));
  // count_include_pad divides corner windows by the full kernel; without it, by the real elements only
  const ones = new Float32Array(9).fill(1);
  assert.equal(ops.avgPoolForward({ x: ones, xShape: [1, 1, 3, 3], kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1], countIncludePad: true }).y[0], Math.fround(4 / 9));
  assert.equal(ops.avgPoolForward({ x: ones, xShape: [1, 1, 3, 3], kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1] }).y[0], 1);
  assert.throws(() => ops.maxPoolForward({ x: ones, xShape: [1, 1, 3, 3], kernel: [2, 2], pads: [2, 0, 0, 0] }), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /pads\[0\]/.test(e.message));
  assert.throws(() => ops.maxPoolForward({ x: ones, xShape: [1, 1, 3, 3] }), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /kernel is required/.test(e.message));
});

test('linear (both weight layouts) and matmul (batched, broadcast) against the reference', () => {
  const seed = freshSeed('linear');
  for (const [i, [n, inn, out]] of [[1, 1, 1], [4, 7, 3], [33, 64, 10], [2, 300, 17], [128, 16, 40]].entries())
    for (const transW of [true, false]) {
      const x = gaussian(n * inn, seed + i), w = gaussian(inn * out, seed + i + 1), b = gaussian(out, seed + i + 2);
      const wShape = transW ? [out, inn] : [inn, out];
      const what = `${n}x${inn}->${out} transW=${transW}`;
      const { f } = both('linearForward', { x, xShape: [n, inn], w, wShape, b, transW }, ['y'], what);
      assert.deepEqual(f.yShape, [n, out]);
      both('linearForward', { x, xShape: [n, inn], w, wShape, transW }, ['y'], what + ' no bias');
      both('linearBackward', { x, xShape: [n, inn], w, wShape, transW, dy: gaussian(n * out, seed + i + 3) }, ['dx', 'dw', 'db'], what);
    }
  for (const [i, [aShape, bShape]] of ([[[3, 4], [4, 5]], [[2, 3, 4], [2, 4, 6]], [[3, 5, 8], [8, 2]], [[1, 1, 1], [1, 1]]] as number[][][]).entries()) {
    const a = gaussian(prod(aShape), seed + 50 + i), b = gaussian(prod(bShape), seed + 60 + i);
    const { f } = both('matmulForward', { a, aShape, b, bShape }, ['y'], JSON.stringify([aShape, bShape]));
    both('matmulBackward', { a, aShape, b, bShape, dy: gaussian(f.y.length, seed + 70 + i) }, ['da', 'db'], JSON.stringify([aShape, bShape]));
  }
  const x = new Float32Array(6);
  assert.throws(() => ops.linearForward({ x, xShape: [2, 3], w: new Float32Array(8), wShape: [2, 4] }), (e: { code?: string; message: string }) => e.code === 'E_SHAPE_MISMATCH' && /wShape \[2,4\] does not match xShape \[2,3\]/.test(e.message));
  assert.throws(() => ops.matmulForward({ a: x, aShape: [2, 3], b: new Float32Array(8), bShape: [4, 2] }), (e: { code?: string; message: string }) => e.code === 'E_SHAPE_MISMATCH' && /disagree on K/.test(e.message));
});

test('flatten and reshape shapes (ONNX semantics)', () => {
  assert.deepEqual(ops.flattenShape({ shape: [2, 3, 4, 5] }), [2, 60]);
  assert.deepEqual(ops.flattenShape({ shape: [2, 3, 4, 5], axis: 0 }), [1, 120]);
  assert.deepEqual(ops.flattenShape({ shape: [2, 3, 4, 5], axis: -1 }), [24, 5]);
  assert.deepEqual(ops.reshapeShape({ shape: [2, 3, 4], spec: [0, -1] }), [2, 12]);
  assert.deepEqual(ops.reshapeShape({ shape: [2, 3, 4], spec: [4, 0, 2] }), [4, 3, 2]);
  assert.deepEqual(ops.reshapeShape({ shape: [0, 3], spec: [3, 0], allowzero: true }), [3, 0]);
  assert.throws(() => ops.reshapeShape({ shape: [2, 3], spec: [4, -1] }), (e: { code?: string }) => e.code === 'E_SHAPE_MISMATCH');
  assert.throws(() => ops.reshapeShape({ shape: [2, 3], spec: [-1, -1] }), (e: { code?: string }) => e.code === 'E_INVALID_ARGUMENT');
  assert.throws(() => ops.flattenShape({ shape: [2, 3], axis: 3 }), (e: { code?: string }) => e.code === 'E_INVALID_ARGUMENT');
});
