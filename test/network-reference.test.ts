// The native Network against the composition of the float64 reference ops (addon.ops.ref.*): a residual CNN
// (conv -> BN -> relu -> conv -> residual add -> maxpool -> conv stride 2 -> GAP -> flatten -> Gemm -> L2Norm, odd
// sizes) in train / eval / frozen-bn mode, forward outputs, parameter and input gradients (summed at the residual
// fork), BN running statistics; a second network with AveragePool, Reshape, MatMul, 1-D BN, an Add of a tensor
// with itself and a graph output that is also read by a layer; forwardAsync / backwardAsync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../lib/native.ts';
import { Network, type NetworkMode } from '../lib/train/network.ts';
import type { NetworkSpec } from '../lib/train/spec.ts';
import { freshSeed, gaussian, mulberry32 } from './helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (args: Record<string, unknown>) => any;
const ref = (native() as unknown as { ops: { ref: Record<string, Fn> } }).ops.ref;
const f64 = (a: Float32Array) => Float64Array.from(a);

/** |got - want| <= tol * max |want| (+ floor), elementwise. */
function close(got: Float32Array, want: Float64Array, what: string, tol = 1e-4, floor = 0) {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = floor;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; ++i)
    if (!(Math.abs(got[i] - want[i]) <= tol * Math.max(scale, 1e-12)))
      assert.fail(`${what}: element ${i} got ${got[i]}, expected ${want[i]} (scale ${scale})`);
}

const N = 3, C = 3, H = 7;
function residualSpec(seed: number): NetworkSpec {
  const rng = mulberry32(seed + 50);
  const p = (name: string, shape: number[], scale: number, k: number) => ({
    name, shape, data: gaussian(shape.reduce((a, b) => a * b, 1), seed + k, scale),
  });
  return {
    inputs: [{ name: 'x', shape: [C, H, H] }],
    outputs: ['feat'],
    layers: [
      { op: 'Conv', name: 'conv1', inputs: ['x'], outputs: ['h1'], params: ['w1', 'b1'], attrs: { pads: [1, 1, 1, 1], strides: [1, 1] } },
      { op: 'BatchNormalization', name: 'bn1', inputs: ['h1'], outputs: ['n1'], params: ['g1', 'be1'], buffers: ['rm1', 'rv1'], attrs: { epsilon: 1e-5, momentum: 0.1 } },
      { op: 'Relu', name: 'relu1', inputs: ['n1'], outputs: ['r1'], attrs: {} },
      { op: 'Conv', name: 'conv2', inputs: ['r1'], outputs: ['h2'], params: ['w2'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Add', name: 'add', inputs: ['h2', 'r1'], outputs: ['a'], attrs: {} },
      { op: 'MaxPool', name: 'pool', inputs: ['a'], outputs: ['p'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
      { op: 'Conv', name: 'conv3', inputs: ['p'], outputs: ['h3'], params: ['w3', 'b3'], attrs: { pads: [1, 0, 1, 1], strides: [2, 2] } },
      { op: 'BatchNormalization', name: 'bn2', inputs: ['h3'], outputs: ['n3'], params: ['g2', 'be2'], buffers: ['rm2', 'rv2'], attrs: { epsilon: 1e-3, momentum: 0.3 } },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['n3'], outputs: ['g'], attrs: {} },
      { op: 'Flatten', name: 'flat', inputs: ['g'], outputs: ['f'], attrs: { axis: 1 } },
      { op: 'Gemm', name: 'fc', inputs: ['f'], outputs: ['z'], params: ['w4', 'b4'], attrs: { transB: 1 } },
      { op: 'L2Norm', name: 'norm', inputs: ['z'], outputs: ['feat'], attrs: {} },
    ],
    params: [
      p('w1', [4, C, 3, 3], 0.3, 1), p('b1', [4], 0.1, 2), p('g1', [4], 0.2, 3), p('be1', [4], 0.2, 4),
      p('w2', [4, 4, 3, 3], 0.3, 5), p('w3', [6, 4, 3, 3], 0.3, 6), p('b3', [6], 0.1, 7),
      p('g2', [6], 0.2, 8), p('be2', [6], 0.2, 9), p('w4', [5, 6], 0.4, 10), p('b4', [5], 0.1, 11),
    ].map((t) => (t.name.startsWith('g') ? { ...t, data: t.data.map((v) => 1 + v) } : t)),
    buffers: [
      { name: 'rm1', shape: [4], data: gaussian(4, seed + 20, 0.1) },
      { name: 'rv1', shape: [4], data: Float32Array.from({ length: 4 }, () => 0.5 + rng()) },
      { name: 'rm2', shape: [6], data: gaussian(6, seed + 21, 0.1) },
      { name: 'rv2', shape: [6], data: Float32Array.from({ length: 6 }, () => 0.5 + rng()) },
    ],
  };
}

type D = Record<string, Float64Array>;
/** The same network composed from the float64 reference ops; returns the output and a backward closure. */
function referenceResidual(spec: NetworkSpec, x: Float32Array, n: number, mode: NetworkMode) {
  const P: D = {}, B: D = {};
  for (const t of spec.params) P[t.name] = f64(t.data!);
  for (const t of spec.buffers) B[t.name] = f64(t.data!);
  const bmode = mode === 'frozen-bn' ? 'frozen' : mode;
  const xs = [n, C, H, H];
  const c1 = { xShape: xs, wShape: [4, C, 3, 3], pads: [1, 1, 1, 1] };
  const h1 = ref.conv2dForward({ ...c1, x: f64(x), w: P.w1, b: P.b1 });
  const bn1 = { shape: h1.yShape, mode: bmode, eps: 1e-5, momentum: 0.1 };
  const n1 = ref.batchNormForward({ ...bn1, x: h1.y, gamma: P.g1, beta: P.be1, runningMean: B.rm1, runningVar: B.rv1 });
  const r1 = ref.reluForward({ x: n1.y });
  const c2 = { xShape: h1.yShape, wShape: [4, 4, 3, 3], pads: [1, 1, 1, 1] };
  const h2 = ref.conv2dForward({ ...c2, x: r1.y, w: P.w2 });
  const a = ref.addForward({ a: h2.y, b: r1.y });
  const mp = { xShape: h1.yShape, kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] };
  const p = ref.maxPoolForward({ ...mp, x: a.y });
  const c3 = { xShape: p.yShape, wShape: [6, 4, 3, 3], pads: [1, 0, 1, 1], stride: [2, 2] };
  const h3 = ref.conv2dForward({ ...c3, x: p.y, w: P.w3, b: P.b3 });
  const bn2 = { shape: h3.yShape, mode: bmode, eps: 1e-3, momentum: 0.3 };
  const n3 = ref.batchNormForward({ ...bn2, x: h3.y, gamma: P.g2, beta: P.be2, runningMean: B.rm2, runningVar: B.rv2 });
  const gap = { xShape: h3.yShape };
  const g = ref.globalAvgPoolForward({ ...gap, x: n3.y });
  const lin = { xShape: [n, 6], wShape: [5, 6], transW: true };
  const z = ref.linearForward({ ...lin, x: g.y, w: P.w4, b: P.b4 });
  const out = ref.l2normForward({ xShape: [n, 5], x: z.y });
  const running = mode === 'train'
    ? { rm1: n1.runningMean, rv1: n1.runningVar, rm2: n3.runningMean, rv2: n3.runningVar }
    : { rm1: B.rm1, rv1: B.rv1, rm2: B.rm2, rv2: B.rv2 };
  const backward = (dOut: Float32Array) => {
    const dz = ref.l2normBackward({ xShape: [n, 5], x: z.y, y: out.y, dy: f64(dOut) }).dx;
    const fc = ref.linearBackward({ ...lin, x: g.y, w: P.w4, dy: dz });
    const dn3 = ref.globalAvgPoolBackward({ ...gap, dy: fc.dx }).dx;
    const b2 = ref.batchNormBackward({ ...bn2, x: h3.y, gamma: P.g2, saveMean: n3.saveMean, saveInvstd: n3.saveInvstd, dy: dn3 });
    const k3 = ref.conv2dBackward({ ...c3, x: p.y, w: P.w3, dy: b2.dx });
    const da = ref.maxPoolBackward({ ...mp, x: a.y, dy: k3.dx }).dx;
    const ad = ref.addBackward({ dy: da });
    const k2 = ref.conv2dBackward({ ...c2, x: r1.y, w: P.w2, dy: ad.da });
    const dr1 = Float64Array.from(k2.dx as Float64Array, (v, i) => v + ad.db[i]); // the residual fork: summed
    const dn1 = ref.reluBackward({ y: r1.y, dy: dr1 }).dx;
    const b1 = ref.batchNormBackward({ ...bn1, x: h1.y, gamma: P.g1, saveMean: n1.saveMean, saveInvstd: n1.saveInvstd, dy: dn1 });
    const k1 = ref.conv2dBackward({ ...c1, x: f64(x), w: P.w1, dy: b1.dx });
    const grads: D = {
      w1: k1.dw, b1: k1.db, g1: b1.dgamma, be1: b1.dbeta, w2: k2.dw, w3: k3.dw, b3: k3.db,
      g2: b2.dgamma, be2: b2.dbeta, w4: fc.dw, b4: fc.db,
    };
    return { grads, dx: k1.dx as Float64Array };
  };
  return { out: out.y as Float64Array, running, backward };
}

test('network: residual CNN forward, backward and running stats equal the float64 reference composition in every mode', () => {
  const seed = freshSeed('network-reference');
  const spec = residualSpec(seed);
  for (const mode of ['train', 'eval', 'frozen-bn'] as const) {
    const net = Network.create(spec, { threads: 2 });
    net.setMode(mode);
    assert.equal(net.mode, mode);
    const x = gaussian(N * C * H * H, seed + 100);
    const r = referenceResidual(spec, x, N, mode);
    const out = net.forward({ x });
    assert.deepEqual(Object.keys(out), ['feat']);
    close(out.feat, r.out, `${mode} forward`);
    const bufs = net.getBuffers();
    for (const [k, v] of Object.entries(r.running)) close(bufs[k], v as Float64Array, `${mode} running stat ${k}`, 1e-5);
    if (mode !== 'train')
      for (const b of spec.buffers) assert.deepEqual(bufs[b.name], b.data, `${mode}: ${b.name} unchanged`);
    const dOut = gaussian(N * 5, seed + 200);
    const { grads, dx } = r.backward(dOut);
    const inGrads = net.backward({ feat: dOut }, true);
    const got = net.getGrads();
    // A gradient that is exactly 0 in exact arithmetic (conv1's bias ahead of a train-mode BN) is compared with
    // a floor: 1% of the largest parameter gradient.
    let floor = 0;
    for (const g of Object.values(grads)) for (const v of g) floor = Math.max(floor, 0.01 * Math.abs(v));
    for (const name of net.paramNames()) {
      if (mode === 'frozen-bn' && /^(g|be)\d$/.test(name)) {
        assert.ok(got[name].every((v) => v === 0), `frozen-bn: ${name} gradient is zero`);
        continue;
      }
      close(got[name], grads[name], `${mode} grad ${name}`, 2e-4, floor);
    }
    close(inGrads.x, dx, `${mode} input grad`, 2e-4);
    // Gradients are overwritten, not accumulated: a second backward gives the same values.
    net.backward({ feat: dOut });
    const again = net.getGrads();
    for (const name of net.paramNames()) assert.deepEqual(again[name], got[name], `${mode}: ${name} overwritten`);
    // The param views alias the same storage as getParams/getGrads.
    const views = net.gradViews();
    for (const [i, name] of net.paramNames().entries()) assert.deepEqual(views[i], got[name]);
  }
});

test('network: running statistics over several train steps follow PyTorch (momentum, unbiased variance)', () => {
  const seed = freshSeed('network-running');
  const spec = residualSpec(seed);
  const net = Network.create(spec);
  const rm = Float64Array.from(spec.buffers[0].data!), rv = Float64Array.from(spec.buffers[1].data!);
  for (let step = 0; step < 3; ++step) {
    const x = gaussian(N * C * H * H, seed + 300 + step);
    net.forward({ x });
    // bn1's input is conv1's output: recompute it with the reference conv and apply PyTorch's update by hand.
    const P = Object.fromEntries(spec.params.map((t) => [t.name, f64(t.data!)]));
    const h = ref.conv2dForward({ xShape: [N, C, H, H], wShape: [4, C, 3, 3], pads: [1, 1, 1, 1], x: f64(x), w: P.w1, b: P.b1 }).y as Float64Array;
    const m = N * H * H;
    for (let c = 0; c < 4; ++c) {
      let s = 0, sq = 0;
      for (let i = 0; i < N; ++i) for (let k = 0; k < H * H; ++k) s += h[(i * 4 + c) * H * H + k];
      const mean = s / m;
      for (let i = 0; i < N; ++i) for (let k = 0; k < H * H; ++k) sq += (h[(i * 4 + c) * H * H + k] - mean) ** 2;
      rm[c] = 0.9 * rm[c] + 0.1 * mean;
      rv[c] = 0.9 * rv[c] + 0.1 * (sq / (m - 1));
    }
    const b = net.getBuffers();
    close(b.rm1, rm, `step ${step} running_mean`, 1e-5);
    close(b.rv1, rv, `step ${step} running_var`, 1e-5);
  }
});

test('network: AveragePool, Reshape, MatMul, 1-D BN, x + x and a graph output that is also read', async () => {
  const seed = freshSeed('network-ops2');
  const n = 4;
  const spec: NetworkSpec = {
    inputs: [{ name: 'img', shape: [2, 5, 5] }],
    outputs: ['u', 'feat'],
    layers: [
      { op: 'AveragePool', name: 'avg', inputs: ['img'], outputs: ['q'], attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 } },
      { op: 'Reshape', name: 'reshape', inputs: ['q'], outputs: ['v'], attrs: { shape: [0, -1] } },
      { op: 'MatMul', name: 'mm', inputs: ['v'], outputs: ['t'], params: ['wm'], attrs: {} },
      { op: 'BatchNormalization', name: 'bn', inputs: ['t'], outputs: ['tb'], params: ['gam', 'bet'], buffers: ['mean', 'var'], attrs: {} },
      { op: 'Add', name: 'double', inputs: ['tb', 'tb'], outputs: ['u'], attrs: {} },
      { op: 'L2Norm', name: 'norm', inputs: ['u'], outputs: ['feat'], attrs: {} },
    ],
    params: [
      { name: 'wm', shape: [18, 7], data: gaussian(18 * 7, seed + 1, 0.3) },
      { name: 'gam', shape: [7], data: gaussian(7, seed + 2, 0.2).map((v) => 1 + v) },
      { name: 'bet', shape: [7], data: gaussian(7, seed + 3, 0.2) },
    ],
    buffers: [{ name: 'mean', shape: [7] }, { name: 'var', shape: [7], data: new Float32Array(7).fill(1) }],
  };
  const net = Network.create(spec);
  const img = gaussian(n * 50, seed + 10);
  const out = net.forward({ img });
  // Reference
  const ps = { xShape: [n, 2, 5, 5], kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true };
  const q = ref.avgPoolForward({ ...ps, x: f64(img) });
  const mm = { aShape: [n, 18], bShape: [18, 7] };
  const t = ref.matmulForward({ ...mm, a: q.y, b: f64(spec.params[0].data!) });
  const bn = { shape: [n, 7], mode: 'train' };
  const tb = ref.batchNormForward({ ...bn, x: t.y, gamma: f64(spec.params[1].data!), beta: f64(spec.params[2].data!), runningMean: new Float64Array(7), runningVar: new Float64Array(7).fill(1) });
  const u = ref.addForward({ a: tb.y, b: tb.y });
  const feat = ref.l2normForward({ xShape: [n, 7], x: u.y });
  close(out.u, u.y, 'u');
  close(out.feat, feat.y, 'feat');
  const du = gaussian(n * 7, seed + 20), dfeat = gaussian(n * 7, seed + 21);
  const dl = ref.l2normBackward({ xShape: [n, 7], x: u.y, y: feat.y, dy: f64(dfeat) }).dx as Float64Array;
  const duTot = Float64Array.from(dl, (v, i) => v + du[i]); // graph output gradient + its consumer's
  const dtb = duTot.map((v) => 2 * v); // x + x
  const b = ref.batchNormBackward({ ...bn, x: t.y, gamma: f64(spec.params[1].data!), saveMean: tb.saveMean, saveInvstd: tb.saveInvstd, dy: dtb });
  const m = ref.matmulBackward({ ...mm, a: q.y, b: f64(spec.params[0].data!), dy: b.dx });
  const dimg = ref.avgPoolBackward({ ...ps, dy: m.da }).dx;
  const inGrads = net.backward({ u: du, feat: dfeat }, true);
  const g = net.getGrads();
  close(g.wm, m.db, 'wm grad', 2e-4);
  close(g.gam, b.dgamma, 'gamma grad', 2e-4);
  close(g.bet, b.dbeta, 'beta grad', 2e-4);
  close(inGrads.img, dimg, 'input grad', 2e-4);
  // A missing output gradient is zero; async versions agree with the sync ones.
  const img2 = gaussian(n * 50, seed + 30);
  const sync = net.forward({ img: img2 });
  net.backward({ feat: dfeat });
  const gs = net.getGrads();
  const asyncOut = await net.forwardAsync({ img: img2 });
  close(asyncOut.feat, f64(sync.feat), 'async forward', 1e-5);
  const p = net.backwardAsync({ feat: dfeat }, true);
  assert.throws(() => net.forward({ img: img2 }), (e: { code?: string }) => e.code === 'E_INVALID_ARGUMENT');
  const ig = await p;
  assert.equal(ig.img.length, n * 50);
  const ga = net.getGrads();
  for (const k of Object.keys(gs)) close(ga[k], f64(gs[k]), `async grad ${k}`, 1e-5);
});
