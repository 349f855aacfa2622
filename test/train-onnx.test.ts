// The graph reader / writer around the training engine's NetworkSpec (issue #4 section 2), without the engine:
// ONNX -> spec (teacher weights or a fresh torchvision-style replica, BN unfolding) -> ONNX, checked through
// onnxruntime-node against the original models and the committed PyTorch references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MimicError } from '../lib/errors.ts';
import { readNpy } from '../lib/io/npy.ts';
import { ModelBuilder, encodeModel, loadModel, summarize, type ModelProto } from '../lib/onnx/index.ts';
import { specFromOnnx, type OnnxNetworkSpec } from '../lib/train/from-onnx.ts';
import { onnxFromSpec, saveSpecAsOnnx, specShapes } from '../lib/train/to-onnx.ts';
import type { NetworkSpec } from '../lib/train/spec.ts';
import { gaussian, mulberry32 } from '../lib/util/rng.ts';

const dir = join(import.meta.dirname, 'fixtures');
const TOL = 1e-4; // max abs error / max |reference|
const sessionOptions: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 };

async function run(model: ModelProto | Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Record<string, Float32Array>> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const session = await ort.InferenceSession.create(bytes, sessionOptions);
  const inputs: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) inputs[k] = new ort.Tensor('float32', v.data, v.dims);
  const out = await session.run(inputs);
  const res: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(out)) res[k] = v.data as Float32Array;
  await session.release();
  return res;
}

function assertRelClose(got: Float32Array, want: Float32Array, what: string, tol = TOL): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let maxErr = 0, maxRef = 0;
  for (let i = 0; i < got.length; ++i) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= maxErr)) maxErr = e; // NaN too
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  assert.ok(maxRef > 0, `${what}: reference is all zero`);
  assert.ok(maxErr <= tol * maxRef, `${what}: max abs error ${maxErr} > ${tol} x ${maxRef}`);
}

function opCount(model: ModelProto, op: string): number {
  return (model.graph?.node ?? []).filter((n) => n.opType === op).length;
}

const fixtures = (async () => {
  const x = await readNpy(join(dir, 'resnet18_w8_input.npy'));
  const ref = await readNpy(join(dir, 'resnet18_w8_features.npy'));
  return {
    folded: await loadModel(join(dir, 'resnet18_w8.onnx')),
    bn: await loadModel(join(dir, 'resnet18_w8_bn.onnx')),
    input: { data: x.data as Float32Array, dims: x.shape },
    features: ref.data as Float32Array,
  };
})();

function expectOnnxError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MimicError, `not a MimicError: ${String(e)}`);
    assert.equal(e.code, 'E_ONNX', e.message);
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `'${e.message}' lacks '${p}'`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

// ---- teacher weights: the converter round trip ----

for (const which of ['folded', 'bn'] as const) {
  test(`${which} ResNet fixture -> spec (teacher) -> ONNX, BN kept and folded: ORT matches the original and PyTorch`, async () => {
    const f = await fixtures;
    const model = f[which];
    const original = (await run(model, { input: f.input })).features;
    assertRelClose(original, f.features, 'original vs PyTorch');
    const spec = specFromOnnx(model, { weights: 'teacher' });
    assert.deepEqual(spec.inputs, [{ name: 'input', shape: [3, 32, 32] }]);
    assert.deepEqual(spec.outputs, ['features']);
    assert.equal(spec.unfolded.length, 0, 'teacher weights: no unfolding by default');
    assert.equal(spec.layers.filter((l) => l.op === 'BatchNormalization').length, which === 'bn' ? 20 : 0);
    assert.deepEqual(specShapes(spec).get('features'), [64]);
    // every param has data, every name of a layer's params resolves
    const names = new Set(spec.params.map((p) => p.name));
    for (const l of spec.layers) for (const p of l.params ?? []) assert.ok(names.has(p), p);
    for (const p of spec.params) assert.equal(p.data!.length, p.shape.reduce((a, b) => a * b, 1), p.name);
    if (which === 'bn') {
      const bn = spec.layers.find((l) => l.op === 'BatchNormalization')!;
      assert.ok(Math.abs((bn.attrs.momentum as number) - 0.1) < 1e-6, 'ONNX momentum 0.9 -> PyTorch 0.1');
      assert.ok(Math.abs((bn.attrs.epsilon as number) - 1e-5) < 1e-9);
    }
    for (const fold of [false, true]) {
      const out = onnxFromSpec(spec, { foldBatchNorm: fold });
      assert.equal(opCount(out, 'BatchNormalization'), which === 'bn' && !fold ? 20 : 0, `fold ${fold}`);
      assert.equal(opCount(out, 'Conv'), 20);
      const s = summarize(out);
      assert.deepEqual(s.inputs, [{ name: 'input', elemType: 'FLOAT', shape: ['N', 3, 32, 32] }]);
      assert.deepEqual(s.outputs, [{ name: 'features', elemType: 'FLOAT', shape: ['N', 64] }]);
      const y = (await run(out, { input: f.input })).features;
      assertRelClose(y, original, `fold ${fold} vs original`);
      assertRelClose(y, f.features, `fold ${fold} vs PyTorch`);
    }
    // batch 1 through the dynamic axis
    const one = (await run(onnxFromSpec(spec), { input: { data: f.input.data.slice(0, 3 * 32 * 32), dims: [1, 3, 32, 32] } })).features;
    assertRelClose(one, f.features.slice(0, 64), 'batch 1');
  });
}

test('teacher weights with unfoldBatchNorm: 20 BN layers restored as an exact eval-mode identity plus the old bias', async () => {
  const f = await fixtures;
  const spec = specFromOnnx(f.folded, { weights: 'teacher', unfoldBatchNorm: true });
  assert.equal(spec.unfolded.length, 20);
  assert.equal(spec.layers.filter((l) => l.op === 'BatchNormalization').length, 20);
  for (const l of spec.layers) if (l.op === 'Conv') assert.equal(l.params!.length, 1, `${l.name} keeps no bias`);
  for (const fold of [false, true]) {
    const y = (await run(onnxFromSpec(spec, { foldBatchNorm: fold }), { input: f.input })).features;
    assertRelClose(y, f.features, `unfolded teacher, fold ${fold}`);
  }
});

// ---- fresh replicas ----

function std(a: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const v of a) { s += v; s2 += v * v; }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean) };
}

test("fresh replica of the folded fixture: BN restored (one per conv), no conv biases, torchvision init, seeded", async () => {
  const f = await fixtures;
  const spec = specFromOnnx(f.folded, { weights: 'fresh', seed: 7 });
  const convs = spec.layers.filter((l) => l.op === 'Conv');
  const bns = spec.layers.filter((l) => l.op === 'BatchNormalization');
  assert.equal(convs.length, 20);
  assert.equal(bns.length, 20);
  assert.equal(spec.unfolded.length, 20);
  const byName = new Map([...spec.params, ...spec.buffers].map((t) => [t.name, t]));
  const producers = new Map(spec.layers.map((l) => [l.outputs[0], l]));
  for (const bn of bns) {
    assert.equal(producers.get(bn.inputs[0])!.op, 'Conv', `${bn.name} follows a conv`);
    assert.equal(bn.attrs.momentum, 0.1);
    assert.equal(bn.attrs.epsilon, 1e-5);
    const [g, b] = bn.params!.map((p) => byName.get(p)!.data!);
    const [m, v] = bn.buffers!.map((p) => byName.get(p)!.data!);
    assert.ok(g.every((x) => x === 1) && b.every((x) => x === 0) && m.every((x) => x === 0) && v.every((x) => x === 1), `${bn.name} init`);
  }
  let checked = 0;
  for (const c of convs) {
    assert.equal(c.params!.length, 1, `${c.name}: no bias`);
    const w = byName.get(c.params![0])!;
    const [oc, , kh, kw] = w.shape;
    const want = Math.sqrt(2 / (oc * kh * kw));
    const st = std(w.data!);
    assert.ok(Math.abs(st.mean) < 0.25 * want, `${c.name}: mean ${st.mean}`);
    if (w.data!.length >= 500) {
      assert.ok(Math.abs(st.std / want - 1) < 0.1, `${c.name}: std ${st.std}, want ${want}`);
      checked++;
    }
  }
  assert.ok(checked >= 15, `${checked} convs big enough to check`);
  // no teacher value survives
  const teacher = specFromOnnx(f.folded, { weights: 'teacher' });
  assert.notDeepEqual(byName.get(convs[0].params![0])!.data, teacher.params.find((p) => p.name === convs[0].params![0])!.data);
  // same seed same weights; another seed other weights
  const again = specFromOnnx(f.folded, { weights: 'fresh', seed: 7 });
  assert.deepEqual(again.params.map((p) => p.data), spec.params.map((p) => p.data));
  const other = specFromOnnx(f.folded, { weights: 'fresh', seed: 8 });
  assert.equal(other.params.length, spec.params.length);
  for (let i = 0; i < spec.params.length; ++i) {
    if (convs.some((c) => c.params![0] === spec.params[i].name)) assert.notDeepEqual(other.params[i].data, spec.params[i].data, spec.params[i].name);
  }
  // exports keep the teacher's input / output names and shapes, and run
  for (const fold of [false, true]) {
    const out = onnxFromSpec(spec, { foldBatchNorm: fold });
    const s = summarize(out);
    const t = summarize(f.folded);
    assert.deepEqual(s.inputs, t.inputs);
    assert.deepEqual(s.outputs, t.outputs);
    assert.equal(opCount(out, 'BatchNormalization'), fold ? 0 : 20);
    const y = (await run(out, { input: f.input })).features;
    assert.equal(y.length, 4 * 64);
    assert.ok(y.every(Number.isFinite));
  }
});

test('fresh replica without unfolding: conv biases are zero; the BN fixture keeps its own 20 BNs', async () => {
  const f = await fixtures;
  const plain = specFromOnnx(f.folded, { weights: 'fresh', unfoldBatchNorm: false });
  assert.equal(plain.layers.filter((l) => l.op === 'BatchNormalization').length, 0);
  const byName = new Map(plain.params.map((t) => [t.name, t]));
  for (const c of plain.layers.filter((l) => l.op === 'Conv')) {
    assert.equal(c.params!.length, 2);
    assert.ok(byName.get(c.params![1])!.data!.every((v) => v === 0));
  }
  const bn = specFromOnnx(f.bn, { weights: 'fresh' });
  assert.equal(bn.unfolded.length, 0, 'a graph with BN nodes gets none added');
  assert.equal(bn.layers.filter((l) => l.op === 'BatchNormalization').length, 20);
  const bnByName = new Map([...bn.params, ...bn.buffers].map((t) => [t.name, t]));
  for (const l of bn.layers.filter((x) => x.op === 'BatchNormalization')) {
    assert.ok(bnByName.get(l.params![0])!.data!.every((v) => v === 1));
    assert.ok(bnByName.get(l.buffers![1])!.data!.every((v) => v === 1));
  }
});

test('BN unfolding rule: only biased convs feeding Relu / Add, never a head conv or a bias-free conv', () => {
  const b = new ModelBuilder({ seed: 3 });
  const x = b.input('img', ['B', 3, 8, 8]);
  const c1 = b.conv(x, { inChannels: 3, outChannels: 4, name: 'c1' }); // biased, -> Relu: restored
  const r1 = b.relu(c1);
  const c2 = b.conv(r1, { inChannels: 4, outChannels: 4, bias: false, name: 'c2' }); // no bias: not restored
  const a = b.relu(b.add(c2, r1));
  const c3 = b.conv(a, { inChannels: 4, outChannels: 6, kernel: 1, name: 'head' }); // -> pooling: not restored
  b.output(b.flatten(b.globalAveragePool(c3), 1, 'emb'), ['B', 6]);
  const spec = specFromOnnx(b.build(), { weights: 'fresh' });
  assert.deepEqual(spec.unfolded, ['c1']);
  assert.deepEqual(spec.io.batchDim, 'B');
  const out = summarize(onnxFromSpec(spec));
  assert.deepEqual(out.inputs[0].shape, ['B', 3, 8, 8]);
  assert.deepEqual(out.outputs[0], { name: 'emb', elemType: 'FLOAT', shape: ['B', 6] });
});

test('fresh linear layers (Gemm, MatMul): PyTorch default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias', () => {
  const b = new ModelBuilder({ seed: 2 });
  const x = b.input('x', ['N', 256]);
  const h = b.relu(b.gemm(x, 256, 128));
  const w = b.initializer('Wm', gaussian(128 * 96, 5), [128, 96]);
  b.output(b.matMul(h, w, 'y'), ['N', 96]);
  const spec = specFromOnnx(b.build(), { weights: 'fresh', seed: 1 });
  const gemm = spec.layers.find((l) => l.op === 'Gemm')!;
  const mm = spec.layers.find((l) => l.op === 'MatMul')!;
  const byName = new Map(spec.params.map((t) => [t.name, t]));
  const check = (name: string, fanIn: number) => {
    const d = byName.get(name)!.data!;
    const bound = 1 / Math.sqrt(fanIn);
    assert.ok(d.every((v) => Math.abs(v) <= bound), `${name} within the bound`);
    if (d.length >= 1000) assert.ok(Math.abs(std(d).std / (bound / Math.sqrt(3)) - 1) < 0.1, `${name} std`);
  };
  check(gemm.params![0], 256);
  check(gemm.params![1], 256);
  assert.deepEqual(byName.get(gemm.params![1])!.shape, [128]);
  check(mm.params![0], 128);
});

// ---- unsupported graphs ----

test('unsupported ops and forms: E_ONNX naming the node, op type and the supported list', () => {
  const base = (f: (b: ModelBuilder, x: string) => string) => {
    const b = new ModelBuilder();
    const x = b.input('x', ['N', 3, 8, 8]);
    b.output(f(b, x));
    return b.build();
  };
  expectOnnxError(() => specFromOnnx(base((b, x) => b.node('Sigmoid', [x], {}, { name: 'sig' })), { weights: 'fresh' }), "node 'sig' (Sigmoid)", 'Sigmoid', 'supported ops: Conv, BatchNormalization');
  expectOnnxError(
    () =>
      specFromOnnx(
        base((b, x) => b.node('Conv', [x, b.randomInitializer('W', [4, 3, 3, 3], 0.1)], { kernel_shape: [3, 3], auto_pad: 'SAME_UPPER' }, { name: 'cv' })),
        { weights: 'teacher' },
      ),
    "node 'cv' (Conv)",
    'auto_pad SAME_UPPER',
  );
  expectOnnxError(
    () => specFromOnnx(base((b, x) => { const f = b.flatten(x); return b.node('Reshape', [x, f], {}, { name: 'rs' }); }), { weights: 'teacher' }),
    "node 'rs' (Reshape)",
    'not a constant',
  );
  expectOnnxError(() => specFromOnnx(base((b, x) => b.reshape(x, [4, -1])), { weights: 'teacher' }), '(Reshape)', 'batch dim');
  const gemm = (attrs: Record<string, number | { float: number }>) =>
    base((b, x) => {
      const f = b.flatten(x);
      const W = b.randomInitializer(b.fresh('W'), attrs.transA ? [192, 5] : [5, 192], 0.1);
      return b.node('Gemm', [f, W], { transB: attrs.transA ? 0 : 1, ...attrs }, { name: 'fc' });
    });
  expectOnnxError(() => specFromOnnx(gemm({ transA: 1 }), { weights: 'teacher' }), "node 'fc' (Gemm)", 'transA');
  expectOnnxError(() => specFromOnnx(gemm({ alpha: { float: 0.5 } }), { weights: 'teacher' }), "node 'fc' (Gemm)", 'alpha 0.5');
  expectOnnxError(() => specFromOnnx(gemm({ beta: { float: 2 } }), { weights: 'teacher' }), "node 'fc' (Gemm)", 'beta 2');
  assert.doesNotThrow(() => specFromOnnx(gemm({ alpha: { float: 1 } }), { weights: 'teacher' }));
  expectOnnxError(
    () => specFromOnnx(base((b, x) => { const f = b.flatten(x); return b.node('MatMul', [f, b.flatten(x)], {}, { name: 'mm' }); }), { weights: 'teacher' }),
    "node 'mm' (MatMul)",
    'not a constant weight',
  );
  expectOnnxError(() => specFromOnnx(base((b, x) => b.node('Add', [x, b.randomInitializer('c', [3, 8, 8], 1)], {}, { name: 'addc' })), { weights: 'teacher' }), "node 'addc' (Add)", 'constant');
  expectOnnxError(() => specFromOnnx(base((b, x) => b.node('Relu', [x], {}, { name: 'r', domain: 'com.microsoft' })), { weights: 'teacher' }), "node 'r'", 'com.microsoft');
  expectOnnxError(() => specFromOnnx(base((b, x) => b.flatten(x, 2)), { weights: 'teacher' }), '(Flatten)', 'axis 2');
});

// ---- other ops round trip ----

test('pools, Reshape, MatMul+Add, Gemm, Identity and Dropout: teacher round trip matches the original in ORT', async () => {
  const b = new ModelBuilder({ seed: 11 });
  const x = b.input('pixels', ['batch', 2, 9, 9]);
  let t = b.relu(b.conv(x, { inChannels: 2, outChannels: 4, name: 'conv' }));
  t = b.node('MaxPool', [t], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { name: 'mp' }); // 5x5
  t = b.node('AveragePool', [t], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, { name: 'ap' }); // 3x3
  t = b.node('AveragePool', [t], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 }, { name: 'ap2' });
  t = b.node('Identity', [t], {}, { name: 'id1' });
  t = b.reshape(t, [0, -1]); // 36
  const W = b.randomInitializer('Wmm', [36, 10], 0.2);
  const B = b.randomInitializer('Bmm', [10], 0.2);
  t = b.add(b.matMul(t, W), B);
  t = b.node('Dropout', [t], {}, { name: 'drop' });
  t = b.gemm(b.relu(t), 10, 5);
  t = b.node('Identity', [t], {}, { name: 'id2', output: 'embedding' });
  b.output(t, ['batch', 5]);
  const model = b.build();
  const spec = specFromOnnx(model, { weights: 'teacher' });
  assert.deepEqual(spec.outputs, ['embedding']);
  assert.deepEqual(spec.layers.map((l) => l.op), ['Conv', 'Relu', 'MaxPool', 'AveragePool', 'AveragePool', 'Reshape', 'Gemm', 'Relu', 'Gemm']);
  assert.deepEqual(specShapes(spec).get('embedding'), [5]);
  const input = { data: gaussian(3 * 2 * 81, 4), dims: [3, 2, 9, 9] };
  const want = (await run(model, { pixels: input })).embedding;
  const out = onnxFromSpec(spec);
  assert.deepEqual(summarize(out).outputs, [{ name: 'embedding', elemType: 'FLOAT', shape: ['batch', 5] }]);
  assertRelClose((await run(out, { pixels: input })).embedding, want, 'round trip');
  // renamed input / output, opset 17
  const renamed = onnxFromSpec(spec, { inputName: 'x', outputName: 'z', opset: 17 });
  assertRelClose((await run(renamed, { x: input })).z, want, 'renamed');
});

// ---- fold vs keep with real statistics ----

function randomBnValues(spec: NetworkSpec, seed: number): { params: Map<string, Float32Array>; buffers: Map<string, Float32Array> } {
  const u = mulberry32(seed);
  const params = new Map<string, Float32Array>();
  const buffers = new Map<string, Float32Array>();
  for (const l of spec.layers) {
    if (l.op !== 'BatchNormalization') continue;
    const [g, bt] = l.params!;
    const [m, v] = l.buffers!;
    const c = spec.params.find((p) => p.name === g)!.shape[0];
    params.set(g, Float32Array.from({ length: c }, () => 0.5 + u()));
    params.set(bt, Float32Array.from({ length: c }, () => 0.4 * (u() - 0.5)));
    buffers.set(m, Float32Array.from({ length: c }, () => 0.6 * (u() - 0.5)));
    buffers.set(v, Float32Array.from({ length: c }, () => 0.3 + 2 * u()));
  }
  return { params, buffers };
}

test('fold vs keep export with random BN statistics: same ORT outputs (fresh ResNet replica)', async () => {
  const f = await fixtures;
  const spec = specFromOnnx(f.folded, { weights: 'fresh', seed: 3 });
  const values = randomBnValues(spec, 99);
  const kept = onnxFromSpec(spec, { ...values });
  const folded = onnxFromSpec(spec, { ...values, foldBatchNorm: true });
  assert.equal(opCount(kept, 'BatchNormalization'), 20);
  assert.equal(opCount(folded, 'BatchNormalization'), 0);
  const a = (await run(kept, { input: f.input })).features;
  const b = (await run(folded, { input: f.input })).features;
  assertRelClose(b, a, 'folded vs kept');
  // the values passed in were used (not the spec's identity BN)
  const plain = (await run(onnxFromSpec(spec), { input: f.input })).features;
  assert.notDeepEqual(plain, a);
});

test('BN folding only where it is sound: a conv read twice, or a BN after Relu, stays a BatchNormalization', async () => {
  const b = new ModelBuilder({ seed: 5 });
  const x = b.input('x', ['N', 3, 6, 6]);
  const c1 = b.conv(x, { inChannels: 3, outChannels: 4 });
  const y1 = b.batchNorm(c1, 4); // foldable
  const c2 = b.conv(y1, { inChannels: 4, outChannels: 4 });
  const y2 = b.batchNorm(c2, 4); // c2 also read by the Add: not foldable
  const s = b.add(y2, c2);
  const y3 = b.batchNorm(b.relu(s), 4); // after Relu: not foldable
  b.output(y3, ['N', 4, 6, 6]);
  const model = b.build();
  const spec = specFromOnnx(model, { weights: 'teacher' });
  const folded = onnxFromSpec(spec, { foldBatchNorm: true });
  assert.equal(opCount(folded, 'BatchNormalization'), 2);
  const input = { data: gaussian(2 * 3 * 36, 8), dims: [2, 3, 6, 6] };
  const want = (await run(model, { x: input }))[y3];
  assertRelClose((await run(folded, { x: input }))[y3], want, 'partly folded');
  assertRelClose((await run(onnxFromSpec(spec), { x: input }))[y3], want, 'kept');
});

// ---- L2Norm, saving ----

test('L2Norm exports as ReduceL2 / Max / Div: y = x / max(||x||, 1e-12) per sample (opset 13 and 18)', async () => {
  const spec: NetworkSpec = {
    inputs: [{ name: 'z', shape: [2, 3] }],
    outputs: ['zn'],
    layers: [{ op: 'L2Norm', name: 'l2', inputs: ['z'], outputs: ['zn'], attrs: {} }],
    params: [],
    buffers: [],
  };
  const x = gaussian(4 * 6, 12, 3);
  x.fill(0, 6, 12); // a zero sample
  x.fill(1e-20, 12, 18); // a tiny one: the clamp at 1e-12 applies
  const want = new Float32Array(x.length);
  for (let r = 0; r < 4; ++r) {
    let s = 0;
    for (let j = 0; j < 6; ++j) s += x[r * 6 + j] ** 2;
    const d = Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < 6; ++j) want[r * 6 + j] = x[r * 6 + j] / d;
  }
  for (const opset of [13, 18]) {
    const y = (await run(onnxFromSpec(spec, { opset }), { z: { data: x, dims: [4, 2, 3] } })).zn;
    for (let i = 0; i < y.length; ++i) assert.ok(Math.abs(y[i] - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])), `opset ${opset} element ${i}: ${y[i]} vs ${want[i]}`);
    assert.ok(y.subarray(6, 12).every((v) => v === 0), 'zero sample stays zero');
  }
});

test('saveSpecAsOnnx writes a loadable model; onnxFromSpec checks its values', async () => {
  const f = await fixtures;
  const spec: OnnxNetworkSpec = specFromOnnx(f.bn, { weights: 'teacher' });
  const tmp = await mkdtemp(join(tmpdir(), 'mimic-to-onnx-'));
  try {
    const file = join(tmp, 'student.onnx');
    await saveSpecAsOnnx(spec, file, { foldBatchNorm: true });
    const back = await loadModel(file);
    assertRelClose((await run(back, { input: f.input })).features, f.features, 'saved');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const w = spec.params[0];
  assert.throws(() => onnxFromSpec(spec, { params: { [w.name]: new Float32Array(3) } }), (e: unknown) => (e as MimicError).code === 'E_SHAPE_MISMATCH');
  const bare = { ...spec, params: spec.params.map((p, i) => (i === 0 ? { name: p.name, shape: p.shape } : p)) };
  assert.throws(() => onnxFromSpec(bare), (e: unknown) => (e as MimicError).code === 'E_INVALID_ARGUMENT' && (e as Error).message.includes(w.name));
  assert.throws(() => onnxFromSpec(spec, { opset: 11 }), (e: unknown) => (e as MimicError).code === 'E_INVALID_ARGUMENT');
});
