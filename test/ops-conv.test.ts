// Conv2d (float32: im2col + SGEMM, Winograd F(2x2,3x3) for 3x3 pad-1 layers, direct implicit GEMM for stride 1) against the float64 reference on random shapes with fresh seeds: strides,
// symmetric and asymmetric pads, 1x1 kernels, odd sizes, batch 1, C = 1, groups, dilation, multi-image blocks
// (small output maps), with and without bias, 1 and 2 threads, generic and auto kernel paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../lib/native.ts';
import { buildInfo } from '../lib/index.ts';
import { freshSeed, gaussian, mulberry32 } from './helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (args: Record<string, unknown>) => any;
const ops = (native() as unknown as { ops: Record<string, Fn> & { ref: Record<string, Fn> } }).ops;

const f64 = (a: Float32Array) => Float64Array.from(a);
// Error relative to the largest reference magnitude (or `floor`, when the result is a cancelling sum of larger terms).
function maxRel(fast: Float32Array, ref: Float64Array, what: string, tol: number, floor = 0) {
  assert.equal(fast.length, ref.length, `${what}: length`);
  let scale = floor;
  for (const v of ref) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < ref.length; ++i) {
    const e = Math.abs(fast[i] - ref[i]);
    if (!(e <= tol * Math.max(scale, 1e-30))) assert.fail(`${what}: element ${i} got ${fast[i]}, expected ${ref[i]} (scale ${scale})`);
    worst = Math.max(worst, e / Math.max(scale, 1e-30));
  }
  return worst;
}

interface Case { n: number; c: number; h: number; w: number; oc: number; kh: number; kw: number; stride: [number, number]; pads: [number, number, number, number]; dilation?: [number, number]; groups?: number; bias: boolean }

const fixed: Case[] = [
  { n: 1, c: 1, h: 5, w: 5, oc: 1, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias: false },
  { n: 2, c: 3, h: 7, w: 9, oc: 4, kh: 1, kw: 1, stride: [1, 1], pads: [0, 0, 0, 0], bias: true },       // direct 1x1
  { n: 3, c: 4, h: 9, w: 7, oc: 5, kh: 1, kw: 1, stride: [2, 2], pads: [0, 0, 0, 0], bias: false },      // 1x1 stride 2, odd H
  { n: 2, c: 3, h: 11, w: 11, oc: 6, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], bias: true },      // stride 2 odd H
  { n: 1, c: 2, h: 8, w: 6, oc: 3, kh: 3, kw: 2, stride: [1, 2], pads: [0, 1, 2, 0], bias: true },       // asymmetric pads
  { n: 2, c: 3, h: 12, w: 12, oc: 4, kh: 7, kw: 7, stride: [2, 2], pads: [3, 3, 3, 3], bias: false },     // ResNet stem
  { n: 40, c: 3, h: 4, w: 4, oc: 5, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias: true },       // multi-image blocks
  { n: 2, c: 3, h: 6, w: 7, oc: 4, kh: 2, kw: 4, stride: [1, 1], pads: [0, 1, 1, 2], bias: false },       // "same" size, even kernel, asymmetric pads
  { n: 9, c: 4, h: 5, w: 5, oc: 6, kh: 1, kw: 1, stride: [1, 1], pads: [0, 0, 0, 0], bias: true },        // 1x1, blocks
  { n: 2, c: 4, h: 6, w: 6, oc: 6, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], groups: 2, bias: true },
  { n: 2, c: 3, h: 5, w: 5, oc: 3, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], groups: 3, bias: false }, // depthwise
  { n: 1, c: 2, h: 9, w: 8, oc: 3, kh: 3, kw: 3, stride: [1, 1], pads: [2, 2, 2, 2], dilation: [2, 2], bias: true },
  { n: 2, c: 2, h: 3, w: 3, oc: 2, kh: 3, kw: 3, stride: [1, 1], pads: [4, 4, 4, 4], bias: true },       // pad > kernel
  { n: 1, c: 70, h: 3, w: 3, oc: 20, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias: true },     // K = 630
  { n: 2, c: 3, h: 20, w: 23, oc: 4, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], bias: false },    // stride-2 rows long enough for the SSE2 im2col / col2im
  { n: 2, c: 2, h: 9, w: 30, oc: 3, kh: 1, kw: 1, stride: [2, 2], pads: [0, 0, 0, 0], bias: true },      // 1x1 stride 2 (a shortcut), odd H
  { n: 2, c: 2, h: 10, w: 24, oc: 3, kh: 3, kw: 3, stride: [2, 2], pads: [0, 1, 1, 0], bias: false },    // im2col / col2im's three taps at stride 2: no right pad,
  { n: 12, c: 3, h: 9, w: 18, oc: 2, kh: 3, kw: 3, stride: [2, 2], pads: [2, 1, 0, 2], bias: false },    // a wider right pad (one output column past the map's; two image blocks),
  { n: 3, c: 2, h: 7, w: 17, oc: 4, kh: 2, kw: 3, stride: [1, 2], pads: [1, 1, 0, 1], bias: true },      // odd width, vertical stride 1
];

function randomCase(rng: () => number): Case {
  const ri = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const kh = ri(1, 4), kw = ri(1, 4);
  const pads: [number, number, number, number] = [ri(0, 2), ri(0, 2), ri(0, 2), ri(0, 2)];
  const groups = rng() < 0.25 ? 2 : 1;
  const h = ri(Math.max(1, kh - pads[0] - pads[2]), 10), w = ri(Math.max(1, kw - pads[1] - pads[3]), 10);
  return { n: ri(1, 4), c: groups * ri(1, 4), h, w, oc: groups * ri(1, 5), kh, kw, stride: [ri(1, 3), ri(1, 3)], pads, groups, bias: rng() < 0.5 };
}

function runCase(cs: Case, seed: number, label: string, extra: Record<string, unknown>) {
  const g = cs.groups ?? 1;
  const xShape = [cs.n, cs.c, cs.h, cs.w], wShape = [cs.oc, cs.c / g, cs.kh, cs.kw];
  const x = gaussian(cs.n * cs.c * cs.h * cs.w, seed);
  const w = gaussian(wShape.reduce((a, b) => a * b), seed + 1, 0.5);
  const b = cs.bias ? gaussian(cs.oc, seed + 2) : undefined;
  const attrs = { xShape, wShape, stride: cs.stride, pads: cs.pads, dilation: cs.dilation ?? [1, 1], groups: g };
  const fy = ops.conv2dForward({ x, w, b, ...attrs, ...extra });
  const ry = ops.ref.conv2dForward({ x: f64(x), w: f64(w), b: b && f64(b), ...attrs });
  assert.deepEqual(fy.yShape, ry.yShape, `${label}: yShape`);
  let worst = maxRel(fy.y, ry.y, `${label} y`, 2e-5);
  const dy = gaussian(fy.y.length, seed + 3);
  const fb = ops.conv2dBackward({ x, w, dy, ...attrs, ...extra });
  const rb = ops.ref.conv2dBackward({ x: f64(x), w: f64(w), dy: f64(dy), ...attrs });
  // db is a sum over N x OH x OW of dy: a few terms of either sign can cancel to far below their float rounding
  const ohw = dy.length / (cs.n * cs.oc);
  let dbTerms = 0;
  for (let o = 0; o < cs.oc; ++o) {
    let a = 0;
    for (let n = 0; n < cs.n; ++n) for (let k = 0; k < ohw; ++k) a += Math.abs(dy[(n * cs.oc + o) * ohw + k]);
    dbTerms = Math.max(dbTerms, a);
  }
  worst = Math.max(worst, maxRel(fb.dx, rb.dx, `${label} dx`, 2e-5), maxRel(fb.dw, rb.dw, `${label} dw`, 2e-5), maxRel(fb.db, rb.db, `${label} db`, 2e-5, dbTerms));
  return worst;
}

test('conv2d: fixed edge cases and random shapes against the float64 reference (1 and 2 threads, both paths)', () => {
  const seed = freshSeed('conv2d');
  const rng = mulberry32(seed);
  const cases = [...fixed, ...Array.from({ length: 24 }, () => randomCase(rng))];
  let worst = 0;
  for (const [i, cs] of cases.entries())
    for (const extra of [{ threads: 1 }, { threads: 2 }, { threads: 1, path: 'generic' }])
      worst = Math.max(worst, runCase(cs, seed + 17 * i, `case ${i} ${JSON.stringify(cs)} ${JSON.stringify(extra)}`, extra));
  process.stderr.write(`# conv2d worst relative error ${worst.toExponential(2)}\n`);
});

test('conv2d: a larger layer (16 -> 32 channels, 16x16, batch 3) matches the reference and is thread-count stable', () => {
  const seed = freshSeed('conv2d large');
  const cs: Case = { n: 3, c: 16, h: 16, w: 16, oc: 32, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias: true };
  runCase(cs, seed, 'large', { threads: 2 });
  const x = gaussian(3 * 16 * 16 * 16, seed), w = gaussian(32 * 16 * 9, seed + 1);
  const attrs = { xShape: [3, 16, 16, 16], wShape: [32, 16, 3, 3], pads: [1, 1, 1, 1] };
  const y1 = ops.conv2dForward({ x, w, ...attrs, threads: 1 }).y as Float32Array;
  const y2 = ops.conv2dForward({ x, w, ...attrs, threads: 2 }).y as Float32Array;
  maxRel(y2, Float64Array.from(y1), 'threads 1 vs 2', 1e-6);
});

test('conv2d Winograd F(2x2,3x3): forced and automatic, odd sizes and image blocks, against the float64 reference', () => {
  const seed = freshSeed('conv2d winograd');
  const rng = mulberry32(seed);
  const ri = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const same = (n: number, c: number, h: number, w: number, oc: number, bias: boolean): Case => ({ n, c, h, w, oc, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias });
  // 1x1 and odd maps (partial tiles), C = 1, and batches over several image blocks of the transform (one image a
  // block at 48 channels on 24x24; 4 + 4 + 4 + 1 at 40 channels on 16x16: whole blocks per thread with 2 threads)
  const cases = [same(1, 1, 1, 1, 1, true), same(2, 3, 5, 7, 4, true), same(3, 17, 4, 4, 16, false), same(40, 48, 24, 24, 48, true), same(13, 40, 16, 16, 24, false)];
  for (let i = 0; i < 10; ++i) cases.push(same(ri(1, 5), ri(1, 40), ri(1, 13), ri(1, 13), ri(1, 40), rng() < 0.5));
  let worst = 0;
  for (const [i, cs] of cases.entries()) {
    const variants = i === 3 ? [{ threads: 2, conv: 'auto' }] : [{ threads: 1, conv: 'winograd' }, { threads: 2, conv: 'winograd' }, { threads: 1, conv: 'winograd', path: 'generic' }];
    for (const extra of variants) worst = Math.max(worst, runCase(cs, seed + 31 * i, `winograd case ${i} ${JSON.stringify(cs)} ${JSON.stringify(extra)}`, extra));
  }
  process.stderr.write(`# conv2d winograd worst relative error ${worst.toExponential(2)}\n`);
  // the two algorithms agree on a layer where auto picks Winograd (64 channels: its forward too), and 'im2col'
  // forces the other one
  const x = gaussian(2 * 64 * 8 * 8, seed + 5), w = gaussian(64 * 64 * 9, seed + 6, 0.2);
  const attrs = { x, w, xShape: [2, 64, 8, 8], wShape: [64, 64, 3, 3], pads: [1, 1, 1, 1], threads: 1 };
  const a = ops.conv2dForward({ ...attrs, conv: 'auto' }).y as Float32Array, b = ops.conv2dForward({ ...attrs, conv: 'im2col' }).y as Float32Array;
  maxRel(a, Float64Array.from(b), 'auto vs im2col', 2e-5);
  assert.ok(a.some((v, k) => v !== b[k]), 'auto took the Winograd path (its rounding differs from im2col)');
  assert.throws(() => ops.conv2dForward({ ...attrs, conv: 'fft' }), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /conv must be 'auto', 'im2col', 'winograd' or 'direct'/.test(e.message));
});

test('conv2d direct (implicit GEMM; strides by phases): forced on eligible shapes, against the float64 reference', () => {
  const seed = freshSeed('conv2d direct');
  const rng = mulberry32(seed);
  const ri = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const c3 = (n: number, c: number, h: number, w: number, oc: number, bias: boolean): Case => ({ n, c, h, w, oc, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias });
  const cases: Case[] = [
    c3(1, 1, 1, 1, 1, true),      // 1x1 map: every tap but the centre reads padding
    c3(3, 16, 32, 32, 16, false), // the width-16 ResNet's first stage (Wp = 34: a tile spans output rows)
    c3(5, 3, 7, 5, 13, true),     // OC not a multiple of the 8-row tile, K = 27 not a multiple of 4
    c3(10, 8, 16, 16, 8, true),   // more images than a weight-gradient chunk: 3 + 3 + 3 + 1 (four chunks, the last short)
    // output rows a multiple of 16 wide, no bias: the forward stores half-tiles straight into y; an odd number of
    // 16-column segments (the last pairs with itself), pairs across output rows, OC not a multiple of 8
    c3(2, 4, 5, 16, 5, false),
    c3(1, 3, 3, 48, 9, false),
    { n: 2, c: 3, h: 6, w: 7, oc: 4, kh: 2, kw: 4, stride: [1, 1], pads: [0, 1, 1, 2], bias: false },  // asymmetric pads, even kernel
    { n: 2, c: 5, h: 9, w: 6, oc: 6, kh: 5, kw: 3, stride: [1, 1], pads: [0, 0, 0, 0], bias: true },   // no padding ("valid")
    { n: 1, c: 4, h: 5, w: 5, oc: 9, kh: 1, kw: 1, stride: [1, 1], pads: [0, 0, 0, 0], bias: true },   // 1x1
    // strides, by stride phases: ResNet's downsampling 3x3 and 1x1 shortcut, odd sizes, uneven strides, a phase
    // with no taps (1x1 stride 2), pads beyond the kernel, stride 3
    { n: 5, c: 8, h: 32, w: 32, oc: 16, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], bias: false },
    { n: 3, c: 6, h: 9, w: 7, oc: 10, kh: 1, kw: 1, stride: [2, 2], pads: [0, 0, 0, 0], bias: true },
    { n: 2, c: 3, h: 11, w: 8, oc: 5, kh: 3, kw: 2, stride: [2, 1], pads: [1, 0, 2, 1], bias: true },
    { n: 2, c: 2, h: 7, w: 10, oc: 3, kh: 4, kw: 5, stride: [3, 3], pads: [2, 4, 0, 5], bias: false },
  ];
  for (let i = 0; i < 12; ++i) {
    const kh = ri(1, 5), kw = ri(1, 5);
    const stride: [number, number] = i < 6 ? [1, 1] : [ri(1, 3), ri(1, 3)];
    // stride 1 needs pads <= kernel - 1 (its input gradient is the flipped-kernel forward); strided ones take any
    const pmax = (k: number) => (i < 6 ? k - 1 : k + 1);
    const pads: [number, number, number, number] = [ri(0, pmax(kh)), ri(0, pmax(kw)), ri(0, pmax(kh)), ri(0, pmax(kw))];
    cases.push({ n: ri(1, 6), c: ri(1, 20), h: ri(Math.max(1, kh - pads[0] - pads[2]), 12), w: ri(Math.max(1, kw - pads[1] - pads[3]), 12), oc: ri(1, 20), kh, kw, stride, pads, bias: rng() < 0.5 });
  }
  // every kernel set this CPU has: AVX-512 (auto where present), AVX2 + FMA, generic
  const info = buildInfo();
  const directVariants: Record<string, unknown>[] = [{ threads: 1, conv: 'direct' }, { threads: 2, conv: 'direct' }, { threads: 1, conv: 'direct', path: 'generic' }];
  if (info.kernelPath === 'avx512') directVariants.push({ threads: 1, conv: 'direct', path: 'avx2' });
  let worst = 0;
  for (const [i, cs] of cases.entries())
    for (const extra of directVariants)
      worst = Math.max(worst, runCase(cs, seed + 41 * i, `direct case ${i} ${JSON.stringify(cs)} ${JSON.stringify(extra)}`, extra));
  process.stderr.write(`# conv2d direct worst relative error ${worst.toExponential(2)}\n`);
  // the weight gradient's partial sums are per fixed chunk of images: the same bits with 1 and 2 threads
  const cs = c3(10, 6, 9, 9, 7, false);
  const x = gaussian(10 * 6 * 81, seed + 3), w = gaussian(7 * 6 * 9, seed + 4, 0.3), dy = gaussian(10 * 7 * 81, seed + 5);
  const attrs = { x, w, dy, xShape: [cs.n, cs.c, cs.h, cs.w], wShape: [cs.oc, cs.c, 3, 3], pads: cs.pads, conv: 'direct' };
  const one = ops.conv2dBackward({ ...attrs, threads: 1 }), two = ops.conv2dBackward({ ...attrs, threads: 2 });
  assert.deepEqual(Array.from(two.dw as Float32Array), Array.from(one.dw as Float32Array), 'dw: 1 vs 2 threads');
  assert.deepEqual(Array.from(two.dx as Float32Array), Array.from(one.dx as Float32Array), 'dx: 1 vs 2 threads');
  // auto takes it for a narrow stride-1 layer where its SIMD kernels run (AVX2, AVX-512), and im2col elsewhere
  // (told apart by the weight gradient: the forward sums the same products in the same order either way)
  const narrow = { ...attrs, threads: 1 };
  const auto = ops.conv2dBackward({ ...narrow, conv: 'auto' }).dw as Float32Array;
  const direct = ops.conv2dBackward({ ...narrow, conv: 'direct' }).dw as Float32Array;
  const im2col = ops.conv2dBackward({ ...narrow, conv: 'im2col' }).dw as Float32Array;
  const expected = ['avx512', 'avx2'].includes(buildInfo().kernelPath) ? direct : im2col;
  assert.deepEqual(Array.from(auto), Array.from(expected), `auto on a ${buildInfo().kernelPath} CPU`);
  assert.ok(direct.some((v, k) => v !== im2col[k]), 'direct and im2col round differently (the check above can tell them apart)');
});

test('conv2d auto: each pass (forward, input gradient, weight gradient) takes its own algorithm', { skip: buildInfo().kernelPath !== 'avx512' && 'the per-pass rules are measured for the AVX-512 kernels (AVX2 keeps only the narrow layers on direct)' }, () => {
  const seed = freshSeed('conv2d per-pass');
  // Told apart by their bits: Winograd rounds unlike the others; direct's and im2col's gradients sum in other orders.
  const passes = (xShape: number[], wShape: number[], stride: number[], pads: number[], path = 'auto') => {
    const [n, c, h, w] = xShape, [oc, , kh] = wShape;
    const oh = Math.floor((h + pads[0] + pads[2] - kh) / stride[0]) + 1, ow = Math.floor((w + pads[1] + pads[3] - kh) / stride[1]) + 1;
    const attrs = { x: gaussian(n * c * h * w, seed + 1), w: gaussian(oc * c * kh * kh, seed + 2, 0.2), dy: gaussian(n * oc * oh * ow, seed + 3), xShape, wShape, stride, pads, threads: 1, path };
    const run = (conv: string) => {
      const f = ops.conv2dForward({ ...attrs, conv }).y as Float32Array, b = ops.conv2dBackward({ ...attrs, conv });
      return { y: Array.from(f), dx: Array.from(b.dx as Float32Array), dw: Array.from(b.dw as Float32Array) };
    };
    return { auto: run('auto'), direct: run('direct'), winograd: run('winograd'), im2col: run('im2col') };
  };
  const differ = (a: number[], b: number[], what: string) => assert.ok(a.some((v, k) => v !== b[k]), `${what} (the checks can tell them apart)`);
  // 32 -> 32 on 16x16: direct forward and input gradient, Winograd weight gradient
  const l32 = passes([2, 32, 16, 16], [32, 32, 3, 3], [1, 1], [1, 1, 1, 1]);
  differ(l32.direct.y, l32.winograd.y, '32 channels: direct and Winograd forwards');
  assert.deepEqual(l32.auto.y, l32.direct.y, '32 channels 16x16: forward by direct');
  differ(l32.direct.dx, l32.winograd.dx, '32 channels: direct and Winograd input gradients');
  assert.deepEqual(l32.auto.dx, l32.direct.dx, '32 channels 16x16: input gradient by direct');
  differ(l32.direct.dw, l32.winograd.dw, '32 channels: direct and Winograd weight gradients');
  assert.deepEqual(l32.auto.dw, l32.winograd.dw, '32 channels 16x16: weight gradient by Winograd');
  // the same layer on 8x8: Winograd's input gradient
  const l32s = passes([2, 32, 8, 8], [32, 32, 3, 3], [1, 1], [1, 1, 1, 1]);
  differ(l32s.direct.dx, l32s.winograd.dx, '32 channels 8x8: direct and Winograd input gradients');
  assert.deepEqual(l32s.auto.dx, l32s.winograd.dx, '32 channels 8x8: input gradient by Winograd');
  assert.deepEqual(l32s.auto.y, l32s.direct.y, '32 channels 8x8: forward by direct');
  // 64 -> 64: Winograd throughout
  const l64 = passes([2, 64, 8, 8], [64, 64, 3, 3], [1, 1], [1, 1, 1, 1]);
  for (const k of ['y', 'dx', 'dw'] as const) {
    differ(l64.direct[k], l64.winograd[k], `64 channels: direct and Winograd ${k}`);
    assert.deepEqual(l64.auto[k], l64.winograd[k], `64 channels: ${k} by Winograd`);
  }
  // on the AVX2 kernels the 32-channel layer stays on Winograd in every pass
  const a2 = passes([2, 32, 16, 16], [32, 32, 3, 3], [1, 1], [1, 1, 1, 1], 'avx2');
  for (const k of ['y', 'dx', 'dw'] as const) {
    differ(a2.direct[k], a2.winograd[k], `AVX2: direct and Winograd ${k}`);
    assert.deepEqual(a2.auto[k], a2.winograd[k], `AVX2, 32 channels 16x16: ${k} by Winograd`);
  }
  // 16 -> 32, stride 2: both gradients by im2col (the forward sums the same products in the same order either way)
  const s2 = passes([3, 16, 16, 16], [32, 16, 3, 3], [2, 2], [1, 1, 1, 1]);
  for (const k of ['dx', 'dw'] as const) {
    differ(s2.direct[k], s2.im2col[k], `stride 2: direct and im2col ${k}`);
    assert.deepEqual(s2.auto[k], s2.im2col[k], `stride 2: ${k} by im2col`);
  }
  // the same on a 32x32 input: both gradients by direct
  const s2w = passes([2, 16, 32, 32], [32, 16, 3, 3], [2, 2], [1, 1, 1, 1]);
  for (const k of ['dx', 'dw'] as const) {
    differ(s2w.direct[k], s2w.im2col[k], `stride 2, 32x32: direct and im2col ${k}`);
    assert.deepEqual(s2w.auto[k], s2w.direct[k], `stride 2, 32x32: ${k} by direct`);
  }
});

test('conv2d backward with dxAdd: each algorithm adds the input gradient in place (dx = dxAdd + dx), as the reference', () => {
  const seed = freshSeed('conv2d dx add');
  // direct at stride 1 (rows stored by half-tiles: 16-wide output; and the staging tile: odd width) and by stride
  // phases, Winograd, im2col ("same" rows, the stride-2 three taps, the general path, a 1x1 GEMM straight into dx)
  const cases: [Case, string][] = [
    [{ n: 3, c: 4, h: 6, w: 16, oc: 5, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias: false }, 'direct'],
    [{ n: 2, c: 3, h: 7, w: 9, oc: 4, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias: false }, 'direct'],
    [{ n: 2, c: 3, h: 11, w: 10, oc: 4, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], bias: false }, 'direct'],
    [{ n: 5, c: 6, h: 8, w: 8, oc: 7, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias: false }, 'winograd'],
    [{ n: 2, c: 3, h: 7, w: 9, oc: 4, kh: 3, kw: 3, stride: [1, 1], pads: [1, 1, 1, 1], bias: false }, 'im2col'],
    [{ n: 3, c: 3, h: 12, w: 20, oc: 4, kh: 3, kw: 3, stride: [2, 2], pads: [1, 1, 1, 1], bias: false }, 'im2col'],
    [{ n: 2, c: 3, h: 9, w: 8, oc: 2, kh: 2, kw: 3, stride: [2, 1], pads: [0, 1, 1, 0], bias: false }, 'im2col'],
    [{ n: 2, c: 3, h: 24, w: 24, oc: 2, kh: 1, kw: 1, stride: [1, 1], pads: [0, 0, 0, 0], bias: false }, 'im2col'],
  ];
  for (const [i, [cs, conv]] of cases.entries()) {
    const xShape = [cs.n, cs.c, cs.h, cs.w], wShape = [cs.oc, cs.c, cs.kh, cs.kw];
    const attrs = { xShape, wShape, stride: cs.stride, pads: cs.pads, dilation: [1, 1], groups: 1 };
    const x = gaussian(cs.n * cs.c * cs.h * cs.w, seed + 10 * i), w = gaussian(wShape.reduce((a, b) => a * b), seed + 10 * i + 1, 0.5);
    const y = ops.conv2dForward({ x, w, ...attrs, conv }).y as Float32Array;
    const dy = gaussian(y.length, seed + 10 * i + 2), dxAdd = gaussian(x.length, seed + 10 * i + 3, 3);
    for (const threads of [1, 2]) {
      const fast = ops.conv2dBackward({ x, w, dy, dxAdd, ...attrs, conv, threads });
      const ref = ops.ref.conv2dBackward({ x: f64(x), w: f64(w), dy: f64(dy), dxAdd: f64(dxAdd), ...attrs });
      maxRel(fast.dx, ref.dx, `${conv} case ${i} ${JSON.stringify(cs)} threads ${threads}: dx with dxAdd`, 2e-5);
      maxRel(fast.dw, ref.dw, `${conv} case ${i}: dw beside it`, 2e-5);
    }
  }
});

test('conv2d: bad arguments give typed errors naming the argument', () => {
  const x = new Float32Array(2 * 3 * 5 * 5), w = new Float32Array(4 * 3 * 3 * 3);
  const base = { x, xShape: [2, 3, 5, 5], w, wShape: [4, 3, 3, 3] };
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [{ ...base, x: new Float64Array(x.length) }, 'E_DTYPE', /conv2dForward\.x must be a Float32Array/],
    [{ ...base, x: new Float32Array(7) }, 'E_SHAPE_MISMATCH', /conv2dForward\.x has 7 elements/],
    [{ ...base, wShape: [4, 2, 3, 3], w: new Float32Array(72) }, 'E_SHAPE_MISMATCH', /wShape/],
    [{ ...base, b: new Float32Array(3) }, 'E_SHAPE_MISMATCH', /conv2dForward\.b/],
    [{ ...base, stride: [0, 1] }, 'E_INVALID_ARGUMENT', /stride\[0\]/],
    [{ ...base, pads: [1, 1, -1, 1] }, 'E_INVALID_ARGUMENT', /pads\[2\]/],
    [{ ...base, pads: [1, 1] }, 'E_INVALID_ARGUMENT', /pads must have 4 entries/],
    [{ ...base, groups: 2 }, 'E_INVALID_ARGUMENT', /groups/],
    [{ ...base, xShape: [2, 3, 5] }, 'E_INVALID_ARGUMENT', /xShape must have 4 entries/],
    [{ ...base, xShape: [2, 3, 1.5, 5] }, 'E_INVALID_ARGUMENT', /xShape\[2\]/],
    [{ x: new Float32Array(12), xShape: [1, 3, 2, 2], w, wShape: [4, 3, 3, 3] }, 'E_INVALID_ARGUMENT', /kernel \(3x3\) is larger/],
    [{ ...base, threads: -1 }, 'E_INVALID_ARGUMENT', /threads/],
  ];
  for (const [args, code, re] of bad)
    assert.throws(() => ops.conv2dForward(args), (e: { code?: string; message: string }) => e.code === code && re.test(e.message), JSON.stringify(Object.keys(args)) + ' ' + re);
  assert.throws(() => ops.conv2dBackward(base), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /conv2dBackward\.dy is required/.test(e.message));
  assert.throws(() => ops.ref.conv2dForward(base), (e: { code?: string; message: string }) => e.code === 'E_DTYPE' && /ops\.ref\.conv2dForward\.x must be a Float64Array/.test(e.message));
});
