// The CUDA fused losses (losses.clone / attention / ntXent with backend: 'cuda', native/cuda/loss_cuda.cu) against
// the CPU fused kernels and the float64 references on random inputs (fresh seeds), at MIMIC's shapes and odd ones.
// Without a usable GPU those tests are skipped (the reason is printed) and backend 'cuda' must throw E_UNSUPPORTED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildInfo } from '../lib/index.ts';
import { assertArrayClose, assertLossClose, f64, losses, minRowNorm, ref } from './loss-helpers.ts';

const info = buildInfo();
const gpu = info.gpuAvailable;
const skip = gpu ? false : `no GPU here (${info.cudaMessage || 'no CUDA device'})`;
import { freshSeed, gaussian } from './helpers.ts';

function assertUnsupported(fn: () => unknown, what: string) {
  assert.throws(fn, (e: unknown) => {
    const err = e as { code?: string; message?: string };
    assert.equal(err.code, 'E_UNSUPPORTED', `${what}: code ${err.code} (${err.message})`);
    assert.match(String(err.message), /backend 'cuda'/, what);
    return true;
  });
}

test('backend option: bad values are E_INVALID_ARGUMENT; references take cpu only', () => {
  const s = gaussian(8, 1);
  assert.throws(() => losses.clone({ student: s, teacher: s, shape: [2, 4], backend: 'tpu' }), { code: 'E_INVALID_ARGUMENT' });
  assert.throws(() => ref.clone({ student: f64(s), teacher: f64(s), shape: [2, 4], backend: 'cuda' }), { code: 'E_INVALID_ARGUMENT' });
  const cpu = losses.clone({ student: s, teacher: s, shape: [2, 4], backend: 'cpu' });
  assert.ok(Math.abs(cpu.loss + 1) < 1e-6);
});

test('backend cuda without a GPU: E_UNSUPPORTED for all three losses', { skip: gpu ? 'a GPU is available (the CUDA tests below run instead)' : false }, () => {
  const s = gaussian(8, 2);
  assertUnsupported(() => losses.clone({ student: s, teacher: s, shape: [2, 4], backend: 'cuda' }), 'clone');
  assertUnsupported(() => losses.ntXent({ u: s, shape: [2, 4], backend: 'cuda' }), 'ntXent');
  const x = gaussian(2 * 3 * 2 * 2, 3);
  const layer = { student: x, teacher: x, studentShape: [2, 3, 2, 2], teacherShape: [2, 3, 2, 2] };
  assertUnsupported(() => losses.attention({ layers: [layer], backend: 'cuda' }), 'attention');
});

test('CUDA clone loss matches the CPU kernel and the float64 reference', { skip }, () => {
  const seed = freshSeed('cuda-clone');
  for (const [B, D] of [[1, 1], [3, 7], [128, 512], [33, 1000]] as const)
    for (const teacherNormalized of [false, true]) {
      const s = gaussian(B * D, seed + B, 2);
      const t = gaussian(B * D, seed + D + 1, 0.5);
      const args = { student: s, teacher: t, shape: [B, D], teacherNormalized };
      const got = losses.clone({ ...args, backend: 'cuda' });
      const cpu = losses.clone(args);
      const want = ref.clone({ ...args, student: f64(s), teacher: f64(t) });
      const what = `clone B=${B} D=${D} tn=${teacherNormalized}`;
      assertLossClose(got.loss, want.loss, 1e-5, 1, `${what} loss vs ref`);
      assertLossClose(got.loss, cpu.loss, 1e-5, 1, `${what} loss vs cpu`);
      const floor = 1 / (B * minRowNorm(s, B, D));
      assertArrayClose(got.grad, want.grad, 1e-5, `${what} grad vs ref`, floor);
      assertArrayClose(got.grad, cpu.grad, 1e-5, `${what} grad vs cpu`, floor);
    }
  // zero rows follow torch's normalize, as on the CPU
  const B = 4, D = 16;
  const s0 = gaussian(B * D, seed + 3);
  const t0 = gaussian(B * D, seed + 4);
  s0.fill(0, 0, D);
  t0.fill(0, 2 * D, 3 * D);
  const got = losses.clone({ student: s0, teacher: t0, shape: [B, D], backend: 'cuda' });
  const cpu = losses.clone({ student: s0, teacher: t0, shape: [B, D] });
  assertLossClose(got.loss, cpu.loss, 1e-5, 1, 'zero rows loss');
  assertArrayClose(got.grad, cpu.grad, 1e-5, 'zero rows grad');
});

type Layer = { cs: number; ct: number; h: number; w: number; beta: number };
function makeLayers(B: number, spec: Layer[], seed: number) {
  return spec.map((l, i) => ({
    student: gaussian(B * l.cs * l.h * l.w, seed + 10 * i, 1 + i),
    teacher: gaussian(B * l.ct * l.h * l.w, seed + 10 * i + 5, 0.5),
    studentShape: [B, l.cs, l.h, l.w],
    teacherShape: [B, l.ct, l.h, l.w],
    beta: l.beta,
  }));
}

test('CUDA attention transfer matches the CPU kernel and the float64 reference (p = 1, 2, 3; MIMIC probes)', { skip }, () => {
  const seed = freshSeed('cuda-attention');
  const cases: [number, Layer[]][] = [
    [5, [
      { cs: 3, ct: 8, h: 16, w: 16, beta: 1000 },
      { cs: 16, ct: 4, h: 7, w: 9, beta: 0.5 },
      { cs: 1, ct: 1, h: 1, w: 1, beta: 2 },
      { cs: 8, ct: 8, h: 33, w: 17, beta: 1 },
    ]],
    [16, [ // MIMIC's probes (batch reduced to keep the float64 reference quick)
      { cs: 64, ct: 64, h: 32, w: 32, beta: 1000 },
      { cs: 128, ct: 128, h: 16, w: 16, beta: 100 },
      { cs: 256, ct: 256, h: 8, w: 8, beta: 10 },
      { cs: 512, ct: 512, h: 4, w: 4, beta: 1 },
    ]],
  ];
  for (const [B, spec] of cases) {
    const layers = makeLayers(B, spec, seed + B);
    const layers64 = layers.map((l) => ({ ...l, student: f64(l.student), teacher: f64(l.teacher) }));
    for (const p of B === 5 ? [2, 1, 3] : [2]) {
      const got = losses.attention({ layers, p, backend: 'cuda' });
      const cpu = losses.attention({ layers, p });
      const want = ref.attention({ layers: layers64, p });
      const scale = spec.reduce((s, l, i) => s + Math.abs(l.beta * want.layerLosses[i]), 0);
      assertLossClose(got.loss, want.loss, 1e-5, scale, `B=${B} p=${p} total vs ref`);
      assertLossClose(got.loss, cpu.loss, 1e-5, scale, `B=${B} p=${p} total vs cpu`);
      for (let i = 0; i < spec.length; ++i) {
        assertLossClose(got.layerLosses[i], want.layerLosses[i], 1e-5, 1e-12, `B=${B} p=${p} layer ${i} loss`);
        assertArrayClose(got.grads[i], want.grads[i], 1e-5, `B=${B} p=${p} layer ${i} grad vs ref`);
        assertArrayClose(got.grads[i], cpu.grads[i], 1e-5, `B=${B} p=${p} layer ${i} grad vs cpu`);
      }
    }
  }
});

test('CUDA NT-Xent matches the CPU kernel and the float64 reference', { skip }, () => {
  const seed = freshSeed('cuda-ntxent');
  for (const [B, D, tau] of [[1, 3, 0.5], [3, 5, 0.1], [128, 128, 0.5], [37, 70, 0.2], [200, 33, 1]] as const) {
    const u = gaussian(2 * B * D, seed + B + D, 1.5);
    const got = losses.ntXent({ u, shape: [2 * B, D], tau, backend: 'cuda' });
    const cpu = losses.ntXent({ u, shape: [2 * B, D], tau });
    const want = ref.ntXent({ u: f64(u), shape: [2 * B, D], tau });
    const what = `ntXent B=${B} D=${D} tau=${tau}`;
    assertLossClose(got.loss, want.loss, 1e-5, 1, `${what} loss vs ref`);
    assertLossClose(got.loss, cpu.loss, 1e-5, 1, `${what} loss vs cpu`);
    const floor = 1 / (2 * B * tau);
    assertArrayClose(got.grad, want.grad, 1e-5, `${what} grad vs ref`, B === 1 ? floor : 1e-30);
    assertArrayClose(got.grad, cpu.grad, 1e-5, `${what} grad vs cpu`, B === 1 ? floor : 1e-30);
  }
});
