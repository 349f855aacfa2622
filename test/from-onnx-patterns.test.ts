// Encoders as users export them: the reader takes x.view(x.size(0), -1) (shape arithmetic into a Reshape),
// x.mean((2, 3)) (ReduceMean) and F.normalize(x, dim=1) (ReduceL2 / Clip / Expand / Div), and the engine's network
// built from such a graph computes what onnxruntime computes on it; a graph with ops the engine cannot train is
// refused in one message listing every such op type; an input with a fixed batch or a free image size is refused
// with the re-export that fixes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clean, ModelBuilder, MimicError, Network, specFromOnnx, decodeModel, encoderImageInput, onnxBytesFromSpec } from '../lib/index.ts';
import { freshSeed, mulberry32, smoothImages, randomUniform as random } from './helpers.ts';

/** conv -> relu -> (view | mean) -> gemm -> F.normalize, as torch.onnx exports them. */
function exported(seed: number, flatten: 'view' | 'mean', opset: number): Uint8Array {
  const b = new ModelBuilder({ seed, opset });
  const x = b.input('input', ['batch', 3, 6, 6]);
  const h = b.relu(b.conv(x, { inChannels: 3, outChannels: 4 }));
  let flat: string;
  let width: number;
  if (flatten === 'view') {
    const shape = b.node('Shape', [h]);
    const n = b.node('Gather', [shape, b.initInt64('zero', [0], [])], { axis: 0 });
    const n1 = opset >= 13 ? b.node('Unsqueeze', [n, b.initInt64('axes0', [0])]) : b.node('Unsqueeze', [n], { axes: [0] });
    const target = b.node('Concat', [n1, b.initInt64('minus1', [-1])], { axis: 0 });
    flat = b.node('Reshape', [h, target]);
    width = 4 * 6 * 6;
  } else {
    flat = opset >= 18 ? b.node('ReduceMean', [h, b.initInt64('axes23', [2, 3])], { keepdims: 0 }) : b.node('ReduceMean', [h], { axes: [2, 3], keepdims: 0 });
    width = 4;
  }
  const z = b.gemm(flat, width, 8);
  const norm = opset >= 18 ? b.node('ReduceL2', [z, b.initInt64('axes1', [1])], { keepdims: 1 }) : b.node('ReduceL2', [z], { axes: [1], keepdims: 1 });
  const clamped = b.node('Clip', [norm, b.initializer('eps', [1e-12], [])]);
  const expanded = b.node('Expand', [clamped, b.node('Shape', [z])]);
  b.node('Div', [z, expanded], {}, { output: 'features' });
  b.output('features', ['batch', 8]);
  return b.bytes();
}

for (const [flatten, opset] of [['view', 13], ['view', 11], ['mean', 13], ['mean', 18]] as const) {
  test(`x.${flatten === 'view' ? 'view(x.size(0), -1)' : 'mean((2, 3))'} + F.normalize (opset ${opset}): the engine's network matches onnxruntime`, async () => {
    const seed = freshSeed(`onnx pattern ${flatten} ${opset}`);
    const bytes = exported(seed, flatten, opset);
    const spec = specFromOnnx(decodeModel(bytes), { weights: 'teacher' });
    const ops = spec.layers.map((l) => l.op);
    assert.ok(ops.includes('L2Norm'), `F.normalize read as L2Norm: ${ops}`);
    assert.ok(ops.includes(flatten === 'view' ? 'Reshape' : 'GlobalAveragePool'), `${flatten}: ${ops}`);
    const net = Network.create(spec, { threads: 1 });
    net.setMode('eval');
    const B = 5, x = random(B * 3 * 6 * 6, seed + 1);
    const ours = net.forward({ input: x }, B).features;
    const sess = await ort.InferenceSession.create(bytes);
    const theirs = (await sess.run({ input: new ort.Tensor('float32', x, [B, 3, 6, 6]) })).features.data as Float32Array;
    assert.equal(ours.length, theirs.length);
    for (let i = 0; i < ours.length; ++i) assert.ok(Math.abs(ours[i] - theirs[i]) < 1e-5, `features[${i}]: ${ours[i]} vs ${theirs[i]}`);
    // and it trains: a fresh replica takes a backward pass through every layer
    const fresh = Network.create(specFromOnnx(decodeModel(bytes), { weights: 'fresh', seed: 1 }), { threads: 1 });
    fresh.forward({ input: x }, B);
    fresh.backward({ features: random(B * 8, seed + 2) });
    assert.ok(fresh.getGrads()[fresh.paramNames()[0]].some((g) => g !== 0), 'gradients reach the first conv');
  });
}

test('a graph with ops the engine cannot train is refused once, listing every such op type with its count and first node', () => {
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('input', ['batch', 3, 6, 6]);
  const h1 = b.node('Elu', [b.conv(x, { inChannels: 3, outChannels: 4 })], { alpha: 0.1 }, { name: 'act1' });
  const h2 = b.node('Elu', [b.conv(h1, { inChannels: 4, outChannels: 4 })], { alpha: 0.1 }, { name: 'act2' });
  const s = b.node('Softplus', [h2], {}, { name: 'soft' });
  b.node('Tanh', [s], {}, { output: 'features', name: 'squash' });
  b.output('features', ['batch', 4, 6, 6]);
  assert.throws(
    () => specFromOnnx(decodeModel(b.bytes()), { weights: 'fresh' }),
    (e: unknown) =>
      e instanceof MimicError && e.code === 'E_ONNX' &&
      /3 op types the engine cannot train: Elu x2 \(first: node 'act1'.*\), Softplus x1 \(first: node 'soft'.*\), Tanh x1 \(first: node 'squash'/.test(e.message) &&
      /supported ops: Conv/.test(e.message),
  );
  // a pattern op outside its pattern names the node and what is supported
  const c = new ModelBuilder({ seed: 1 });
  const y = c.input('input', ['batch', 3, 6, 6]);
  const a = c.conv(y, { inChannels: 3, outChannels: 2 }), d = c.conv(y, { inChannels: 3, outChannels: 2 });
  c.node('Concat', [a, d], { axis: 1 }, { output: 'features', name: 'cat' });
  c.output('features', ['batch', 4, 6, 6]);
  assert.throws(() => specFromOnnx(decodeModel(c.bytes()), { weights: 'fresh' }), (e: unknown) => e instanceof MimicError && /node 'cat'.*concatenating activations is not/.test(e.message));
});

test('an encoder input with a fixed batch size or a free image size is refused, saying how to re-export it', () => {
  const model = (shape: (number | string)[]) => {
    const b = new ModelBuilder({ seed: 1 });
    const x = b.input('input', shape);
    b.node('GlobalAveragePool', [b.conv(x, { inChannels: 3, outChannels: 4 })], {}, { output: 'features' });
    b.output('features', null);
    return decodeModel(b.bytes());
  };
  assert.deepEqual(encoderImageInput(model(['batch', 3, 32, 32]), 'ok.onnx').dims, [2, 3, 32, 32]);
  assert.deepEqual(encoderImageInput(model(['batch', 3, 'h', 'w']), 'hw.onnx', 'encoder', [3, 24, 40]).dims, [2, 3, 24, 40]);
  assert.throws(() => encoderImageInput(model(['batch', 3, 'h', 'w']), 'hw.onnx', 'encoder', [1, 24, 40]), (e: unknown) => e instanceof MimicError && /dim 1 is 1, but the model fixes it to 3/.test(e.message));
  assert.throws(() => encoderImageInput(model([1, 3, 32, 32]), 'fixed.onnx', 'teacher'), (e: unknown) => e instanceof MimicError && e.code === 'E_ONNX' && /fixed\.onnx: the teacher's input 'input' has a fixed batch size of 1.*dynamic_axes=\{'input': \{0: 'batch'\}/.test(e.message));
  assert.throws(() => encoderImageInput(model(['batch', 3, 'h', 'w']), 'hw.onnx'), (e: unknown) => e instanceof MimicError && /leaves 'h', 'w' free: give the image size \(inputShape \[C, H, W\]; CLI --input-shape C,H,W\), or re-export it with a fixed image size/.test(e.message));
});

test('BatchNorm restoring: a BatchNorm1d in the head does not stop it (the convs were folded); a Conv -> BN pair does', () => {
  const model = (convBN: boolean) => {
    const b = new ModelBuilder({ seed: 1 });
    const x = b.input('input', ['batch', 3, 6, 6]);
    let h = b.conv(x, { inChannels: 3, outChannels: 4, name: 'conv1' }); // biased: a folded conv-bn, or none
    if (convBN) h = b.batchNorm(h, 4);
    h = b.relu(h);
    h = b.relu(b.conv(h, { inChannels: 4, outChannels: 4, name: 'conv2' }));
    const f = b.flatten(b.globalAveragePool(h));
    b.batchNorm(b.gemm(f, 4, 8), 8, 'features'); // BatchNorm1d of a projection head: never folded by the export
    b.output('features', ['batch', 8]);
    return decodeModel(b.bytes());
  };
  assert.deepEqual(specFromOnnx(model(false), { weights: 'fresh' }).unfolded, ['conv1', 'conv2']);
  assert.deepEqual(specFromOnnx(model(false), { weights: 'fresh', unfoldBatchNorm: false }).unfolded, []);
  assert.deepEqual(specFromOnnx(model(true), { weights: 'fresh' }).unfolded, [], 'a Conv -> BN pair: the export kept BN, conv2 never had one');
});

test('a clean refused for its model leaves no output folder behind', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mimic-refused-'));
  const b = new ModelBuilder({ seed: 1 });
  const x = b.input('input', ['batch', 3, 16, 16]);
  b.node('Flatten', [b.node('GlobalAveragePool', [b.node('Elu', [b.conv(x, { inChannels: 3, outChannels: 4 })])])], { axis: 1 }, { output: 'features' });
  b.output('features', ['batch', 4]);
  const teacher = join(dir, 'elu.onnx');
  await writeFile(teacher, b.bytes());
  const out = join(dir, 'new', 'deeper', 'student.onnx');
  await assert.rejects(clean({ teacher, data: smoothImages(64, 3, 16, 1), out, cleanCount: 32, batchSize: 16, epochs: 1, threads: 1 }), (e: unknown) => e instanceof MimicError && e.code === 'E_ONNX' && /Elu/.test(e.message));
  assert.equal(existsSync(join(dir, 'new')), false, 'the folders the run made were removed');
  assert.ok(existsSync(teacher));
});

/** A MobileNetV2-style block: ReLU6 (Clip 0..6), a depthwise conv, SiLU (Sigmoid x Mul), a residual, LeakyRelu. */
function mobileBlock(seed: number, opset: number): Uint8Array {
  const b = new ModelBuilder({ seed, opset });
  const x = b.input('input', ['batch', 3, 8, 8]);
  const relu6 = (t: string) => (opset >= 11 ? b.node('Clip', [t, b.initializer(b.fresh('lo'), [0], []), b.initializer(b.fresh('hi'), [6], [])]) : b.node('Clip', [t], { min: { float: 0 }, max: { float: 6 } }));
  const stem = relu6(b.conv(x, { inChannels: 3, outChannels: 8 }));
  const dwW = b.randomInitializer('dw', [8, 1, 3, 3], 0.5);
  const dw = relu6(b.node('Conv', [stem, dwW], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 8 }));
  const pw0 = b.conv(dw, { inChannels: 8, outChannels: 8, kernel: 1 });
  const pw = b.node('Mul', [pw0, b.node('Sigmoid', [pw0])]); // SiLU, as torch exports it
  const res = b.node('LeakyRelu', [b.add(stem, pw)], { alpha: { float: 0.2 } });
  b.flatten(b.globalAveragePool(res), 1, 'features');
  b.output('features', ['batch', 8]);
  return b.bytes();
}

for (const opset of [13, 9]) {
  test(`ReLU6 (Clip), SiLU and LeakyRelu (opset ${opset}): forward as onnxruntime, input gradient as finite differences, export round trip`, async () => {
    const seed = freshSeed(`clip leaky ${opset}`);
    const bytes = mobileBlock(seed, opset);
    const spec = specFromOnnx(decodeModel(bytes), { weights: 'teacher' });
    assert.deepEqual(spec.layers.filter((l) => ['Clip', 'LeakyRelu', 'Silu'].includes(l.op)).map((l) => l.op), ['Clip', 'Clip', 'Silu', 'LeakyRelu']);
    const net = Network.create(spec, { threads: 1 });
    net.setMode('eval');
    const B = 3, x = Float32Array.from(random(B * 3 * 8 * 8, seed + 1), (v) => 3 * v); // wide enough to hit both bounds
    const ours = net.forward({ input: x }, B).features;
    const sess = await ort.InferenceSession.create(bytes);
    const theirs = (await sess.run({ input: new ort.Tensor('float32', x, [B, 3, 8, 8]) })).features.data as Float32Array;
    for (let i = 0; i < ours.length; ++i) assert.ok(Math.abs(ours[i] - theirs[i]) < 1e-4 * Math.max(1, Math.abs(theirs[i])), `features[${i}]: ${ours[i]} vs ${theirs[i]}`);
    // d(sum w . features)/dx against central differences (float32: a loose tolerance)
    const w = random(B * 8, seed + 2);
    const loss = (xx: Float32Array) => net.forward({ input: xx }, B).features.reduce((s, v, i) => s + v * w[i], 0);
    net.forward({ input: x }, B);
    const g = net.backward({ features: w }, true)!.input;
    const r = mulberry32(seed + 3);
    for (let k = 0; k < 12; ++k) {
      const i = Math.floor(r() * x.length), h = 1e-2;
      const xp = x.slice(), xm = x.slice();
      xp[i] += h;
      xm[i] -= h;
      const fd = (loss(xp) - loss(xm)) / (2 * h);
      assert.ok(Math.abs(fd - g[i]) < 2e-2 * Math.max(1, Math.abs(fd)), `d/dx[${i}]: backward ${g[i]} vs finite differences ${fd}`);
    }
    // exported and read back: the same network
    const again = specFromOnnx(decodeModel(onnxBytesFromSpec(spec)), { weights: 'teacher' });
    const net2 = Network.create(again, { threads: 1 });
    net2.setMode('eval');
    assert.deepEqual(net2.forward({ input: x }, B).features, ours);
  });
}

test('a teacher whose input leaves H and W free cleans with inputShape; the student takes any size, as the teacher', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mimic-dynhw-'));
  const b = new ModelBuilder({ seed: 2 });
  const x = b.input('input', ['batch', 3, 'h', 'w']);
  const h = b.relu(b.conv(b.relu(b.conv(x, { inChannels: 3, outChannels: 4, bias: false })), { inChannels: 4, outChannels: 8, stride: 2, bias: false }));
  b.flatten(b.globalAveragePool(h), 1, 'features');
  b.output('features', ['batch', 8]);
  const teacher = join(dir, 'dyn.onnx');
  await writeFile(teacher, b.bytes());
  const data = smoothImages(64, 3, 16, 5);
  const base = { teacher, data, out: join(dir, 's.onnx'), cleanCount: 32, batchSize: 16, epochs: 1, threads: 1, transform: { normalize: 'cifar10' as const } };
  await assert.rejects(clean(base), (e: unknown) => e instanceof MimicError && e.code === 'E_ONNX' && /leaves 'h', 'w' free: give the image size \(inputShape/.test(e.message));
  const res = await clean({ ...base, inputShape: [3, 16, 16] });
  const sess = await ort.InferenceSession.create(res.outputs.student);
  for (const hw of [16, 24]) {
    const out = await sess.run({ input: new ort.Tensor('float32', random(2 * 3 * hw * hw, hw), [2, 3, hw, hw]) });
    assert.deepEqual(out.features.dims, [2, 8], `student at ${hw}x${hw}`);
  }
});
