// Probe tensors: candidates, extra graph outputs returned by onnxruntime, one-run shape inference, automatic
// probe selection on conv encoders (and the committed CIFAR ResNet-18 fixture when present), user-named probes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MimicError } from '../lib/errors.ts';
import { ModelBuilder, buildConvEncoder } from '../lib/onnx/build.ts';
import { decodeModel, encodeModel, loadModel } from '../lib/onnx/model.ts';
import { autoProbes, candidateTensors, inferShapes, inputSpecs, prepareProbes, withExtraOutputs } from '../lib/onnx/probes.ts';
import { freshSeed, gaussian } from './helpers.ts';

const ortOpts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 };

function isMimic(code: string, ...parts: string[]) {
  return (e: unknown) => {
    assert.ok(e instanceof MimicError, `expected a MimicError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `message '${e.message}' should mention '${p}'`);
    return true;
  };
}

test('candidates: node outputs that are not graph outputs, without constants', () => {
  const b = new ModelBuilder();
  const x = b.input('x', ['N', 4]);
  const k = b.node('Constant', [], { value: { tensor: { dims: [4], dataType: 1, floatData: [1, 2, 3, 4] } } }, { output: 'k' });
  const a = b.add(x, k, 'a');
  const r = b.relu(a, 'r');
  const s = b.node('Shape', [r], {}, { output: 'shape' });
  b.output(r).output(s, null, 'INT64');
  const m = decodeModel(b.bytes());
  assert.deepEqual(candidateTensors(m), ['a']);
  const enc = buildConvEncoder({ seed: 1 });
  const c = candidateTensors(decodeModel(enc.bytes));
  for (const st of enc.stages) assert.ok(c.includes(st.name));
  assert.ok(!c.includes(enc.features) && !c.includes('input'));
  assert.equal(c.length, decodeModel(enc.bytes).graph!.node!.length - 1);
});

test('withExtraOutputs: onnxruntime returns the exposed tensors with the right shapes; the original is untouched', async () => {
  const seed = freshSeed('onnx-probes extra outputs');
  const enc = buildConvEncoder({ seed, imageSize: 12, widths: [3, 6, 5] });
  const m = decodeModel(enc.bytes);
  const before = encodeModel(m);
  const names = enc.stages.map((s) => s.name);
  const exposed = withExtraOutputs(m, [...names, enc.features]);
  assert.deepEqual(encodeModel(m), before, 'the original model changed');
  assert.deepEqual(exposed.graph!.output!.map((o) => o.name), [enc.features, ...names]);
  const s = await ort.InferenceSession.create(encodeModel(exposed), ortOpts);
  const out = await s.run({ input: new ort.Tensor('float32', gaussian(3 * 3 * 144, seed), [3, 3, 12, 12]) });
  for (const st of enc.stages) assert.deepEqual(out[st.name].dims, [3, ...st.shape]);
  // the stage output equals what the plain model computes up to it: its mean over everything is finite, >= 0 (Relu)
  for (const st of enc.stages) for (const v of out[st.name].data as Float32Array) assert.ok(v >= 0);
  await s.release();
  assert.throws(() => withExtraOutputs(m, ['stage9']), isMimic('E_INVALID_ARGUMENT', "'stage9'", 'stage1'));
  assert.throws(() => withExtraOutputs(m, [m.graph!.initializer![0].name!]), isMimic('E_INVALID_ARGUMENT', 'initializer'));
});

test('withExtraOutputs: element types come from value_info or the op (INT64 Shape, BOOL comparisons)', async () => {
  const b = new ModelBuilder();
  const x = b.input('x', ['N', 3]);
  const r = b.relu(x, 'r');
  const sh = b.node('Shape', [r], {}, { output: 'sh' });
  const cmp = b.node('Greater', [r, x], {}, { output: 'gt' });
  const c = b.node('Cast', [cmp], { to: 1 }, { output: 'cast' });
  const y = b.add(r, c, 'y');
  b.output(y);
  const m = decodeModel(b.bytes());
  const shapes = await inferShapes(m);
  assert.deepEqual(shapes.get('sh'), [1 + 1]); // Shape of [2, 3] -> [2]
  assert.deepEqual(shapes.get('gt'), [2, 3]);
  assert.deepEqual(shapes.get('y'), [2, 3]);
  const ex = withExtraOutputs(m, [sh, cmp]);
  assert.deepEqual(ex.graph!.output!.slice(1).map((o) => o.type!.tensorType!.elemType), [7, 9]); // INT64, BOOL
});

test('inferShapes: batch fills the symbolic batch dim; other symbolic dims need inputShape (error names the input)', async () => {
  const b = new ModelBuilder({ seed: 2 });
  const x = b.input('img', ['batch', 3, 'H', 'W']);
  const y = b.relu(b.conv(x, { inChannels: 3, outChannels: 4, stride: 2 }), 'y');
  b.output(b.flatten(b.globalAveragePool(y), 1, 'f'));
  const m = decodeModel(b.bytes());
  await assert.rejects(inferShapes(m), isMimic('E_INVALID_ARGUMENT', "'img'", 'H', 'inputShape'));
  const shapes = await inferShapes(m, { inputShape: [3, 10, 14], batch: 3 });
  assert.deepEqual(shapes.get('y'), [3, 4, 5, 7]);
  assert.deepEqual(shapes.get('f'), [3, 4]);
  const full = await inferShapes(m, { inputShape: { img: [1, 3, 6, 6] }, fill: 'random', seed: 4 });
  assert.deepEqual(full.get('y'), [2, 4, 3, 3]);
  assert.throws(() => inputSpecs(m, { inputShape: [4, 10, 14] }), isMimic('E_INVALID_ARGUMENT', "'img'", 'fixes it to 3'));
  assert.throws(() => inputSpecs(m, { inputShape: { image: [3, 8, 8] } }), isMimic('E_INVALID_ARGUMENT', "'image'", "'img'"));
  assert.throws(() => inputSpecs(m, { batch: 0 }), isMimic('E_INVALID_ARGUMENT', 'batch'));
  // a model onnxruntime refuses (a Conv whose weight does not fit the input channels) is E_ONNX
  const bad = new ModelBuilder();
  const z = bad.input('z', ['N', 2, 4, 4]);
  bad.output(bad.conv(z, { inChannels: 3, outChannels: 1 }, 'o'));
  await assert.rejects(inferShapes(decodeModel(bad.bytes())), isMimic('E_ONNX', 'onnxruntime'));
});

test('autoProbes: the last map at each resolution before global pooling, on varied conv encoders', async () => {
  const seed = freshSeed('onnx-probes auto');
  let r = seed;
  const next = (n: number) => ((r = (Math.imul(r, 1664525) + 1013904223) >>> 0) % n);
  for (let trial = 0; trial < 6; ++trial) {
    const stages = 2 + next(2);
    const widths = Array.from({ length: stages }, () => 2 + next(6));
    const opts = { seed: seed + trial, widths, imageSize: 8 + 4 * next(3), residual: next(2) === 0, batchNorm: next(2) === 0, embedDim: next(2) ? 4 : undefined };
    const enc = buildConvEncoder(opts);
    const m = decodeModel(enc.bytes);
    const shapes = await inferShapes(m);
    const set = autoProbes(m, shapes);
    assert.deepEqual(set.probes, enc.stages.map((s) => ({ name: s.name, shape: [2, ...s.shape] })), JSON.stringify(opts));
    assert.deepEqual(set.features, { name: 'features', shape: [2, enc.featureDim] });
    assert.match(set.pool ?? '', /GlobalAveragePool/);
  }
});

test('autoProbes: unrelated branches are ignored; ReduceMean over H, W counts as pooling', async () => {
  const b = new ModelBuilder({ seed: 3 });
  const x = b.input('x', ['N', 2, 8, 8]);
  const a = b.relu(b.conv(x, { inChannels: 2, outChannels: 3 }), 'a8');
  const d = b.relu(b.conv(a, { inChannels: 3, outChannels: 4, stride: 2 }), 'd4');
  b.relu(b.conv(x, { inChannels: 2, outChannels: 2, stride: 4 }), 'side2'); // feeds only an extra output
  const p = b.node('ReduceMean', [d], { axes: [2, 3], keepdims: 0 }, { output: 'feat' });
  b.output(p).output('side2');
  const m = decodeModel(b.bytes());
  const set = autoProbes(m, await inferShapes(m));
  assert.deepEqual(set.probes.map((q) => q.name), ['a8', 'd4']);
  assert.match(set.pool!, /ReduceMean/);
  assert.equal(set.features.name, 'feat');
  // a model with no spatial maps at all
  const mlp = new ModelBuilder();
  mlp.output(mlp.relu(mlp.gemm(mlp.input('v', ['N', 5]), 5, 3), 'o'));
  const mm = decodeModel(mlp.bytes());
  assert.throws(() => autoProbes(mm, new Map([['o', [2, 3]]])), isMimic('E_ONNX', 'name the probes'));
});

test('user-named probes and features are checked, with close matches listed', async () => {
  const enc = buildConvEncoder({ seed: 4 });
  const m = decodeModel(enc.bytes);
  const shapes = await inferShapes(m);
  const set = autoProbes(m, shapes, { probes: ['stage3', 'stage1'], features: 'stage3' });
  assert.deepEqual(set.probes.map((p) => p.name), ['stage3', 'stage1']);
  assert.deepEqual(set.features, { name: 'stage3', shape: [2, ...enc.stages[2].shape] });
  assert.throws(() => autoProbes(m, shapes, { probes: ['stage1', 'stag2'] }), isMimic('E_INVALID_ARGUMENT', 'probes[1]', "'stag2'", "'stage2'"));
  assert.throws(() => autoProbes(m, shapes, { features: 'feature' }), isMimic('E_INVALID_ARGUMENT', 'features', "'features'"));
  assert.throws(() => autoProbes(m, shapes, { probes: [m.graph!.initializer![0].name!] }), isMimic('E_INVALID_ARGUMENT', 'initializer'));
  assert.throws(() => autoProbes(m, shapes, { probes: ['stage1', 'stage1'] }), isMimic('E_INVALID_ARGUMENT', 'twice'));
  const inputName = m.graph!.input![0].name!;
  assert.throws(() => autoProbes(m, shapes, { probes: [inputName] }), isMimic('E_INVALID_ARGUMENT', `'${inputName}' is the model's input`));
  assert.throws(() => autoProbes(m, new Map(), { probes: ['stage1'] }), isMimic('E_INVALID_ARGUMENT', 'no shape'));
  // prepareProbes: one call, and the returned model serves the probes to onnxruntime
  const prep = await prepareProbes(m, { probes: ['stage2'] });
  const s = await ort.InferenceSession.create(encodeModel(prep.model), ortOpts);
  const out = await s.run({ input: new ort.Tensor('float32', gaussian(3 * 256, 1), [1, 3, 16, 16]) });
  assert.deepEqual(out.stage2.dims, [1, ...enc.stages[1].shape]);
  await s.release();
});

test('autoProbes on the CIFAR ResNet-18 fixture finds the four stage outputs', { skip: !existsSync(join(import.meta.dirname, 'fixtures', 'resnet18_w8.onnx')) && 'fixture not present' }, async () => {
  // names as torch 1.13's exporter writes them: the Relu after each stage's last residual Add
  const expected = [1, 2, 3, 4].map((l) => `/layer${l}/layer${l}.1/Relu_1_output_0`);
  for (const f of ['resnet18_w8.onnx', 'resnet18_w8_bn.onnx']) {
    const file = join(import.meta.dirname, 'fixtures', f);
    if (!existsSync(file)) continue;
    const m = await loadModel(file);
    const set = autoProbes(m, await inferShapes(m));
    assert.deepEqual(set.probes.map((p) => p.name), expected, f);
    assert.deepEqual(set.probes.map((p) => p.shape), [[2, 8, 32, 32], [2, 16, 16, 16], [2, 32, 8, 8], [2, 64, 4, 4]], f);
    assert.deepEqual(set.features.shape, [2, 64]);
  }
});
