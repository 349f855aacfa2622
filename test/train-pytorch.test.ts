// The native engine against PyTorch on whole networks (test/fixtures/train, made by make_train_ref.py): a small
// ResNet and the CIFAR ResNet-18 shape (width 8) at batch 8 — train-mode output, MSE loss, every parameter's
// gradient, BatchNorm running stats, eval output, and 3 Adam steps. Also: the native forward of the PyTorch-
// exported teacher (BN folded) against onnxruntime, and a fresh replica that trains, exports and reloads in ORT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel, loadModel, Optimizer, readNpy } from '../lib/index.ts';
import { readNpz } from '../lib/data/npz.ts';
import { Network } from '../lib/train/network.ts';
import { specFromOnnx } from '../lib/train/from-onnx.ts';
import { onnxFromSpec } from '../lib/train/to-onnx.ts';
import { freshSeed, gaussian } from './helpers.ts';

const dir = join(import.meta.dirname, 'fixtures', 'train');
const f32 = (a: { data: unknown }) => a.data as Float32Array;

/** max |a - b| / max |b| over a tensor: the tolerance scale of a whole tensor, not of near-zero entries. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; ++i) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / (den || 1);
}
function normRatio(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < b.length; ++i) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / (n || 1));
}
function mse(out: Float32Array, target: Float32Array): { loss: number; grad: Float32Array } {
  let s = 0;
  const grad = new Float32Array(out.length);
  for (let i = 0; i < out.length; ++i) {
    const d = out[i] - target[i];
    s += d * d;
    grad[i] = (2 * d) / out.length;
  }
  return { loss: s / out.length, grad };
}

for (const name of ['small', 'resnet18_w8'] as const) {
  test(`${name}: native training step matches PyTorch (output, loss, gradients, running stats, 3 Adam steps)`, async () => {
    const model = await loadModel(join(dir, `${name}.onnx`));
    const spec = specFromOnnx(model, { weights: 'teacher' });
    const net = Network.create(spec, { threads: 1 });
    const init = await readNpz(join(dir, `${name}_init.npz`));
    const input = f32(await readNpy(join(dir, `${name}_input.npy`)));
    const target = f32(await readNpy(join(dir, `${name}_target.npy`)));
    const [inName] = net.inputNames;
    const [outName] = net.outputNames;
    // the ONNX initializers are the fixture's initial weights
    for (const [k, v] of Object.entries(net.getParams())) assert.equal(relErr(v, f32(init.get(k)!)), 0, `initial ${k}`);

    net.setMode('eval');
    const evalOut = net.forward({ [inName]: input.slice() })[outName];
    assert.ok(relErr(evalOut, f32(await readNpy(join(dir, `${name}_eval_output.npy`)))) < 1e-4, 'eval output');

    net.setMode('train');
    const out = net.forward({ [inName]: input.slice() })[outName];
    assert.ok(relErr(out, f32(await readNpy(join(dir, `${name}_output.npy`)))) < 1e-4, 'train output');
    const losses = JSON.parse(await readFile(join(dir, `${name}_losses.json`), 'utf8'));
    const first = mse(out, target);
    assert.ok(Math.abs(first.loss - losses.loss_initial) <= 1e-4 * losses.loss_initial, `loss ${first.loss} vs ${losses.loss_initial}`);
    net.backward({ [outName]: first.grad });
    const grads = await readNpz(join(dir, `${name}_grads.npz`));
    let worstGrad = 0;
    for (const [k, g] of Object.entries(net.getGrads())) {
      const e = relErr(g, f32(grads.get(k)!));
      worstGrad = Math.max(worstGrad, e);
      assert.ok(e < 1e-4, `gradient of ${k}: ${e}`);
    }
    const after = await readNpz(join(dir, `${name}_buffers_after_forward.npz`));
    for (const [k, v] of Object.entries(net.getBuffers())) assert.ok(relErr(v, f32(after.get(k)!)) < 1e-4, `buffer ${k}`);

    // 3 Adam steps (the first uses the gradients above), as the fixture's generator did.
    const opt = Optimizer.create({ kind: 'adam', params: net.paramViews(), lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-6 });
    const stepLosses = [first.loss];
    opt.step(net.gradViews());
    for (let s = 1; s < 3; ++s) {
      const o = net.forward({ [inName]: input.slice() })[outName];
      const l = mse(o, target);
      stepLosses.push(l.loss);
      net.backward({ [outName]: l.grad });
      opt.step(net.gradViews());
    }
    // The loss before step 3 follows two Adam steps: on ResNet-18 it inherits the sign sensitivity described below
    // (measured off PyTorch's by 2e-6 on the AVX-512 kernels, 1.5e-4 on AVX2 and 2.5e-4 on the generic ones, whose
    // sums run in other orders; the losses before steps 1-2 agree to 5e-6 on all three).
    const stepTol = (s: number) => (name === 'small' || s < 2 ? 1e-4 : 1e-3);
    process.stderr.write(`# ${name}: loss before steps 1-3 off by ${stepLosses.map((l, s) => (l / losses.steps[s] - 1).toExponential(1)).join(', ')} (relative)\n`);
    stepLosses.forEach((l, s) => assert.ok(Math.abs(l - losses.steps[s]) <= stepTol(s) * losses.steps[s], `loss before step ${s + 1}: ${l} vs ${losses.steps[s]}`));
    const want = await readNpz(join(dir, `${name}_after3.npz`));
    let worst = 0;
    for (const [k, v] of [...Object.entries(net.getParams()), ...Object.entries(net.getBuffers())]) {
      // ResNet-18 at lr 1e-2: float32 rounding decides how far Adam moves near-zero-gradient weights and pushes
      // ReLU inputs across 0 by step 3 (the generator's float64 replay differs by 1.5e-3 in norm from PyTorch's
      // own float32 run: test/fixtures/train/f64_replay.json), so that model is held to a norm ratio of 1e-2.
      const e = name === 'small' ? relErr(v, f32(want.get(k)!)) : normRatio(v, f32(want.get(k)!));
      worst = Math.max(worst, e);
      assert.ok(e < (name === 'small' ? 1e-4 : 1e-2), `${k} after 3 steps: ${e}`);
    }
    process.stderr.write(`# ${name}: worst gradient error ${worstGrad.toExponential(1)}, worst after-3-steps ${worst.toExponential(1)}\n`);
  });
}

test('native forward of the PyTorch-exported teacher (BN folded) matches onnxruntime and PyTorch', async () => {
  const fixtures = join(import.meta.dirname, 'fixtures');
  const model = await loadModel(join(fixtures, 'resnet18_w8.onnx'));
  const net = Network.create(specFromOnnx(model, { weights: 'teacher', unfoldBatchNorm: false }));
  net.setMode('eval');
  const input = f32(await readNpy(join(fixtures, 'resnet18_w8_input.npy')));
  const out = net.forward({ input: input.slice() }).features;
  const session = await ort.InferenceSession.create(join(fixtures, 'resnet18_w8.onnx'), { intraOpNumThreads: 1 });
  const ortOut = (await session.run({ input: new ort.Tensor('float32', input.slice(), [4, 3, 32, 32]) })).features.data as Float32Array;
  assert.ok(relErr(out, ortOut) < 1e-4, `native vs ORT ${relErr(out, ortOut)}`);
  assert.ok(relErr(out, f32(await readNpy(join(fixtures, 'resnet18_w8_features.npy')))) < 1e-4, 'native vs PyTorch');
});

test('a fresh replica of the teacher trains (loss falls), exports with BN kept and folded, and reloads in ORT with the same outputs', async () => {
  const seed = freshSeed('replica');
  const fixtures = join(import.meta.dirname, 'fixtures');
  const teacher = await loadModel(join(fixtures, 'resnet18_w8.onnx'));
  const spec = specFromOnnx(teacher, { weights: 'fresh', seed });
  assert.equal(spec.layers.filter((l) => l.op === 'BatchNormalization').length, 20);
  const net = Network.create(spec);
  const opt = Optimizer.create({ kind: 'adam', params: net.paramViews(), lr: 1e-2, weightDecay: 1e-6 });
  const x = gaussian(16 * 3 * 32 * 32, seed + 1);
  const target = gaussian(16 * 64, seed + 2, 0.5).map(Math.abs);
  const losses: number[] = [];
  net.setMode('train');
  for (let s = 0; s < 15; ++s) {
    const out = net.forward({ input: x.slice() }).features;
    const l = mse(out, target);
    losses.push(l.loss);
    net.backward({ features: l.grad });
    opt.step(net.gradViews());
  }
  assert.ok(losses[14] < 0.5 * losses[0], `loss ${losses[0]} -> ${losses[14]}`);
  net.setMode('eval');
  const probe = gaussian(5 * 3 * 32 * 32, seed + 3);
  const mine = net.forward({ input: probe.slice() }).features;
  for (const foldBatchNorm of [false, true]) {
    const exported = onnxFromSpec(spec, { params: net.getParams(), buffers: net.getBuffers(), foldBatchNorm });
    const bytes = encodeModel(exported);
    const back = decodeModel(bytes); // loads through our own checks too
    assert.equal(back.graph!.input![0].name, 'input');
    assert.equal(back.graph!.output![0].name, 'features');
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    const got = (await session.run({ input: new ort.Tensor('float32', probe.slice(), [5, 3, 32, 32]) })).features.data as Float32Array;
    assert.ok(relErr(got, mine) < 1e-4, `fold=${foldBatchNorm}: ORT vs engine ${relErr(got, mine)}`);
    const bnNodes = back.graph!.node!.filter((n) => n.opType === 'BatchNormalization').length;
    assert.equal(bnNodes, foldBatchNorm ? 0 : 20);
  }
});
