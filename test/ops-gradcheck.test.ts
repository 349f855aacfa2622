// Gradient checks of the float64 reference kernels: for L = sum(r * f(inputs)) with a random projection r, the
// reference backward's gradient along random directions v must match the central difference
// (L(x + eps v) - L(x - eps v)) / 2 eps of the reference forward, eps = 1e-6, to ~1e-6 relative. With the
// fast-vs-reference tests this ties every float32 backward kernel to its forward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../lib/native.ts';
import { freshSeed, gaussian } from './helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (args: Record<string, unknown>) => any;
const ref = (native() as unknown as { ops: { ref: Record<string, Fn> } }).ops.ref;

type Arrays = Record<string, Float64Array>;
const g64 = (n: number, seed: number, scale = 1) => Float64Array.from(gaussian(n, seed, scale));
const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);

/** fwd(inputs) -> output; grads[name] = dL/d inputs[name] from the reference backward with dy = r. */
function check(label: string, seed: number, inputs: Arrays, fwd: (x: Arrays) => Float64Array, r: Float64Array, grads: Arrays) {
  const eps = 1e-6;
  let worst = 0;
  for (const [name, g] of Object.entries(grads))
    for (let k = 0; k < 3; ++k) {
      const v = g64(g.length, seed + 1000 * k + name.length);
      const shifted = (sign: number) => {
        const x = Float64Array.from(inputs[name], (xi, i) => xi + sign * eps * v[i]);
        return dot(r, fwd({ ...inputs, [name]: x }));
      };
      const fd = (shifted(1) - shifted(-1)) / (2 * eps);
      const an = dot(g, v);
      let scale = 0;
      for (let i = 0; i < g.length; ++i) scale += Math.abs(g[i] * v[i]);
      const err = Math.abs(fd - an) / Math.max(scale, 1e-3);
      worst = Math.max(worst, err);
      assert.ok(err <= 2e-6, `${label} d/d${name} direction ${k}: finite difference ${fd}, backward ${an} (relative ${err.toExponential(2)})`);
    }
  return worst;
}

test('gradient check: conv2d (stride, asymmetric pads, groups, dilation, bias)', () => {
  const seed = freshSeed('gradcheck conv2d');
  const cases = [
    { xShape: [2, 3, 6, 5], wShape: [4, 3, 3, 3], stride: [2, 1], pads: [1, 0, 2, 1] },
    { xShape: [1, 4, 5, 5], wShape: [4, 2, 3, 3], stride: [1, 1], pads: [1, 1, 1, 1], groups: 2 },
    { xShape: [1, 1, 7, 7], wShape: [2, 1, 3, 3], stride: [1, 1], pads: [2, 2, 2, 2], dilation: [2, 2] },
    { xShape: [3, 2, 3, 3], wShape: [3, 2, 1, 1] },
  ];
  for (const [i, cs] of cases.entries()) {
    const xs = cs.xShape, ws = cs.wShape;
    const inputs = { x: g64(xs[0] * xs[1] * xs[2] * xs[3], seed + i), w: g64(ws[0] * ws[1] * ws[2] * ws[3], seed + i + 1), b: g64(ws[0], seed + i + 2) };
    const fwd = (a: Arrays) => ref.conv2dForward({ ...cs, ...a }).y as Float64Array;
    const r = g64(fwd(inputs).length, seed + i + 3);
    const g = ref.conv2dBackward({ ...cs, ...inputs, dy: r });
    check(`conv2d ${JSON.stringify(cs)}`, seed, inputs, fwd, r, { x: g.dx, w: g.dw, b: g.db });
  }
});

test('gradient check: batchnorm train (batch statistics), eval; frozen has zero parameter gradients', () => {
  const seed = freshSeed('gradcheck batchnorm');
  for (const shape of [[3, 2, 2, 3], [4, 3], [2, 2, 5]])
    for (const mode of ['train', 'eval', 'frozen']) {
      const c = shape[1], n = shape.reduce((a, b) => a * b);
      const inputs = { x: g64(n, seed, 2), gamma: g64(c, seed + 1), beta: g64(c, seed + 2) };
      const stats = { runningMean: g64(c, seed + 3, 0.3), runningVar: Float64Array.from(g64(c, seed + 4), (v) => 0.5 + Math.abs(v)) };
      const fwd = (a: Arrays) => ref.batchNormForward({ shape, mode, eps: 1e-3, ...stats, ...a });
      const f = fwd(inputs);
      const r = g64(n, seed + 5);
      const g = ref.batchNormBackward({ shape, mode, eps: 1e-3, x: inputs.x, gamma: inputs.gamma, saveMean: f.saveMean, saveInvstd: f.saveInvstd, dy: r });
      const y = (a: Arrays) => fwd(a).y as Float64Array;
      if (mode === 'frozen') {
        assert.ok(g.dgamma.every((v: number) => v === 0) && g.dbeta.every((v: number) => v === 0));
        check(`batchnorm ${shape} frozen`, seed, inputs, y, r, { x: g.dx });
      } else {
        check(`batchnorm ${shape} ${mode}`, seed, inputs, y, r, { x: g.dx, gamma: g.dgamma, beta: g.dbeta });
      }
    }
});

test('gradient check: relu, add, max/average/global pooling, linear, matmul, l2 normalise', () => {
  const seed = freshSeed('gradcheck layers');
  // relu (values kept away from the kink)
  {
    const x = Float64Array.from(g64(50, seed), (v) => (Math.abs(v) < 1e-3 ? v + 0.01 : v));
    const r = g64(50, seed + 1);
    check('relu', seed, { x }, (a) => ref.reluForward(a).y, r, { x: ref.reluBackward({ y: ref.reluForward({ x }).y, dy: r }).dx });
  }
  {
    const inputs = { a: g64(20, seed), b: g64(20, seed + 1) }, r = g64(20, seed + 2);
    const g = ref.addBackward({ dy: r });
    check('add', seed, inputs, (a) => ref.addForward(a).y, r, { a: g.da, b: g.db });
  }
  for (const cs of [
    { xShape: [2, 2, 7, 6], kernel: [3, 2], stride: [2, 2], pads: [1, 0, 1, 1] },
    { xShape: [1, 1, 6, 6], kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], ceilMode: true },
  ]) {
    const n = cs.xShape.reduce((a, b) => a * b);
    const x = g64(n, seed + 3);
    const fm = (a: Arrays) => ref.maxPoolForward({ ...cs, ...a }).y as Float64Array;
    const rm = g64(fm({ x }).length, seed + 4);
    check(`maxpool ${JSON.stringify(cs)}`, seed, { x }, fm, rm, { x: ref.maxPoolBackward({ ...cs, x, dy: rm }).dx });
    for (const countIncludePad of [false, true]) {
      const fa = (a: Arrays) => ref.avgPoolForward({ ...cs, countIncludePad, ...a }).y as Float64Array;
      check(`avgpool ${JSON.stringify(cs)} ${countIncludePad}`, seed, { x }, fa, rm, { x: ref.avgPoolBackward({ ...cs, countIncludePad, dy: rm }).dx });
    }
    const r2 = g64(cs.xShape[0] * cs.xShape[1], seed + 5);
    check('global avg pool', seed, { x }, (a) => ref.globalAvgPoolForward({ xShape: cs.xShape, ...a }).y, r2, { x: ref.globalAvgPoolBackward({ xShape: cs.xShape, dy: r2 }).dx });
  }
  for (const transW of [true, false]) {
    const [n, inn, out] = [3, 5, 4];
    const wShape = transW ? [out, inn] : [inn, out];
    const inputs = { x: g64(n * inn, seed + 6), w: g64(inn * out, seed + 7), b: g64(out, seed + 8) };
    const r = g64(n * out, seed + 9);
    const g = ref.linearBackward({ xShape: [n, inn], wShape, transW, ...inputs, dy: r });
    check(`linear transW=${transW}`, seed, inputs, (a) => ref.linearForward({ xShape: [n, inn], wShape, transW, ...a }).y, r, { x: g.dx, w: g.dw, b: g.db });
  }
  for (const [aShape, bShape] of [[[2, 3, 4], [2, 4, 5]], [[2, 3, 4], [4, 5]], [[3, 4], [4, 2]]]) {
    const inputs = { a: g64(aShape.reduce((p, q) => p * q), seed + 10), b: g64(bShape.reduce((p, q) => p * q), seed + 11) };
    const fwd = (a: Arrays) => ref.matmulForward({ aShape, bShape, ...a }).y as Float64Array;
    const r = g64(fwd(inputs).length, seed + 12);
    const g = ref.matmulBackward({ aShape, bShape, ...inputs, dy: r });
    check(`matmul ${JSON.stringify([aShape, bShape])}`, seed, inputs, fwd, r, { a: g.da, b: g.db });
  }
  {
    const x = g64(4 * 6, seed + 13), r = g64(4 * 6, seed + 14);
    const y = ref.l2normForward({ x, xShape: [4, 6] }).y;
    check('l2norm', seed, { x }, (a) => ref.l2normForward({ xShape: [4, 6], ...a }).y, r, { x: ref.l2normBackward({ x, y, dy: r, xShape: [4, 6] }).dx });
  }
});
