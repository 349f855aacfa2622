// The float64 reference loss gradients against central finite differences of the reference losses
// (eps = 1e-6) along random directions, and typed errors for bad inputs. With test/loss-kernels.test.ts
// (fused vs reference) this ties every fused gradient to its loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { losses } from './loss-helpers.ts';
import { freshSeed, gaussian } from './helpers.ts';

const ref = losses.ref;
const g64 = (n: number, seed: number, scale = 1) => Float64Array.from(gaussian(n, seed, scale));

/** Directional derivative of loss(x) along 3 random v vs <grad, v>, relative to sum |grad_i v_i|. */
function fdCheck(label: string, seed: number, x: Float64Array, loss: (x: Float64Array) => number, grad: Float64Array) {
  const eps = 1e-6;
  for (let k = 0; k < 3; ++k) {
    const v = g64(x.length, seed + 101 * k);
    const at = (sgn: number) => loss(Float64Array.from(x, (xi, i) => xi + sgn * eps * v[i]));
    const fd = (at(1) - at(-1)) / (2 * eps);
    let an = 0, scale = 0;
    for (let i = 0; i < x.length; ++i) {
      an += grad[i] * v[i];
      scale += Math.abs(grad[i] * v[i]);
    }
    const err = Math.abs(fd - an) / Math.max(scale, 1e-6);
    assert.ok(err <= 1e-6, `${label} direction ${k}: finite difference ${fd}, gradient ${an} (relative ${err.toExponential(2)})`);
  }
}

test('gradient check: clone loss reference (raw and pre-normalised teacher)', () => {
  const seed = freshSeed('clone-fd');
  for (const teacherNormalized of [false, true]) {
    const B = 4, D = 9;
    const s = g64(B * D, seed, 2), t = g64(B * D, seed + 1);
    const r = ref.clone({ student: s, teacher: t, shape: [B, D], teacherNormalized });
    fdCheck(`clone tn=${teacherNormalized}`, seed, s, (x) => ref.clone({ student: x, teacher: t, shape: [B, D], teacherNormalized }).loss, r.grad);
  }
});

test('gradient check: attention transfer reference, 3 layers, p = 2, 1, 3', () => {
  const seed = freshSeed('attention-fd');
  const B = 3;
  const spec = [[2, 5, 4, 3, 10], [6, 3, 2, 2, 0.5], [4, 4, 5, 1, 2]] as const;
  const layers = spec.map(([cs, ct, h, w, beta], i) => ({
    student: g64(B * cs * h * w, seed + 10 * i, 1 + i),
    teacher: g64(B * ct * h * w, seed + 10 * i + 5),
    studentShape: [B, cs, h, w],
    teacherShape: [B, ct, h, w],
    beta,
  }));
  for (const p of [2, 1, 3]) {
    const r = ref.attention({ layers, p });
    for (let l = 0; l < layers.length; ++l)
      fdCheck(`attention p=${p} layer ${l}`, seed + l, layers[l].student,
        (x) => ref.attention({ layers: layers.map((L, j) => (j === l ? { ...L, student: x } : L)), p }).loss, r.grads[l]);
  }
});

test('gradient check: NT-Xent reference (B = 2, 3, 5; tau 0.5, 0.1)', () => {
  const seed = freshSeed('ntxent-fd');
  for (const [B, D, tau] of [[2, 4, 0.5], [3, 7, 0.1], [5, 3, 0.5]] as const) {
    const u = g64(2 * B * D, seed + B, 1.3);
    const r = ref.ntXent({ u, shape: [2 * B, D], tau });
    fdCheck(`ntxent B=${B}`, seed, u, (x) => ref.ntXent({ u: x, shape: [2 * B, D], tau }).loss, r.grad);
  }
});

test('bad inputs give typed errors naming the argument', () => {
  const f = new Float32Array(6), d = new Float64Array(6);
  const cases: [() => unknown, string, RegExp][] = [
    [() => losses.clone({ student: d, teacher: f, shape: [2, 3] }), 'E_DTYPE', /losses\.clone\.student/],
    [() => ref.clone({ student: f, teacher: d, shape: [2, 3] }), 'E_DTYPE', /losses\.ref\.clone\.student/],
    [() => losses.clone({ student: f, teacher: new Float32Array(5), shape: [2, 3] }), 'E_SHAPE_MISMATCH', /teacher/],
    [() => losses.clone({ student: f, teacher: f, shape: [2, 0] }), 'E_INVALID_ARGUMENT', /shape\[1\]/],
    [() => losses.clone({ student: f, teacher: f }), 'E_INVALID_ARGUMENT', /shape is required/],
    [() => losses.clone({ student: f, teacher: Float32Array.from([0, 0, NaN, 0, 0, 0]), shape: [2, 3] }), 'E_NON_FINITE', /teacher/],
    [() => losses.clone(null as unknown as Record<string, unknown>), 'E_INVALID_ARGUMENT', /clone args/],
    [() => losses.ntXent({ u: f, shape: [3, 2] }), 'E_SHAPE_MISMATCH', /shape\[0\] must be even/],
    [() => losses.ntXent({ u: f, shape: [2, 3], tau: 0 }), 'E_INVALID_ARGUMENT', /tau/],
    [() => losses.ntXent({ u: f, shape: [2, 3], tau: Infinity }), 'E_NON_FINITE', /tau/],
    [() => losses.ntXent({ u: f, shape: [2, 3], threads: -1 }), 'E_INVALID_ARGUMENT', /threads/],
    [() => losses.attention({ layers: [] }), 'E_INVALID_ARGUMENT', /layers must not be empty/],
    [() => losses.attention({}), 'E_INVALID_ARGUMENT', /layers must be an array/],
    [() => losses.attention({ layers: [{ student: f, teacher: f, studentShape: [1, 1, 2, 3], teacherShape: [1, 1, 3, 2] }] }),
      'E_SHAPE_MISMATCH', /layers\[0\]\.teacherShape/],
    [() => losses.attention({ layers: [{ student: f, teacher: f, studentShape: [1, 1, 2, 3], teacherShape: [1, 1, 2, 3] },
      { student: f, teacher: f, studentShape: [2, 1, 1, 3], teacherShape: [2, 1, 1, 3] }] }), 'E_SHAPE_MISMATCH', /layers\[1\]\.studentShape\[0\]/],
    [() => losses.attention({ layers: [{ student: f, teacher: f, studentShape: [1, 1, 2, 3], teacherShape: [1, 1, 2, 3] }], p: 0 }),
      'E_INVALID_ARGUMENT', /\.p must be an integer/],
    [() => losses.attention({ layers: [{ student: f, teacher: f, studentShape: [1, 1, 2, 3], teacherShape: [1, 1, 2, 3] }], p: 2.5 }),
      'E_INVALID_ARGUMENT', /\.p must be an integer/],
    [() => losses.attention({ layers: [{ student: f, teacher: f, studentShape: [1, 1, 2, 3], teacherShape: [1, 1, 2, 3], beta: 'x' }] }),
      'E_INVALID_ARGUMENT', /layers\[0\]\.beta/],
    [() => ref.attentionMap({ x: d, shape: [1, 2, 3] }), 'E_INVALID_ARGUMENT', /attentionMap\.shape must have 4/],
  ];
  for (const [fn, code, msg] of cases)
    assert.throws(fn, (e: Error & { code?: string }) => {
      assert.equal(e.code, code, e.message);
      assert.match(e.message, msg);
      return true;
    });
});
