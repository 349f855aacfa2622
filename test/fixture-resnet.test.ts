// The PyTorch-exported CIFAR ResNet-18 (width 8) fixtures, run through onnxruntime-node: the BN-folded and the
// BN-kept graphs both reproduce PyTorch's features and stage outputs on the committed input batch. Uses only
// committed files (no PyTorch); regenerate them with `/usr/bin/python3 test/fixtures/make_resnet.py`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
// onnx-proto is CommonJS with no statically detectable named exports: take `onnx` off the default export.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { readNpy } from '../lib/io/npy.ts';
import type { NpyArray } from '../lib/io/npy.ts';

const { onnx } = onnxProto;
const dir = join(import.meta.dirname, 'fixtures');
const MODELS = { folded: 'resnet18_w8.onnx', unfolded: 'resnet18_w8_bn.onnx' } as const;
type Which = keyof typeof MODELS;
const TOL = 1e-4; // max abs error / max |reference|

/** Stage outputs (the Relu after each stage's last residual Add), as named by torch 1.13's exporter. */
const STAGES = [
  { name: '/layer1/layer1.1/Relu_1_output_0', file: 'resnet18_w8_stage1.npy', shape: [8, 32, 32] },
  { name: '/layer2/layer2.1/Relu_1_output_0', file: 'resnet18_w8_stage2.npy', shape: [16, 16, 16] },
  { name: '/layer3/layer3.1/Relu_1_output_0', file: 'resnet18_w8_stage3.npy', shape: [32, 8, 8] },
  { name: '/layer4/layer4.1/Relu_1_output_0', file: 'resnet18_w8_stage4.npy', shape: [64, 4, 4] },
] as const;

const opts: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
};

async function loadModel(which: Which): Promise<{ bytes: Uint8Array; model: OnnxTypes.ModelProto }> {
  const bytes = new Uint8Array(await readFile(join(dir, MODELS[which])));
  return { bytes, model: onnx.ModelProto.decode(bytes) };
}

async function reference(file: string): Promise<NpyArray & { data: Float32Array }> {
  const a = await readNpy(join(dir, file));
  assert.equal(a.dtype, 'float32', `${file} dtype`);
  return a as NpyArray & { data: Float32Array };
}

function inputTensor(x: NpyArray & { data: Float32Array }): ort.Tensor {
  return new ort.Tensor('float32', x.data, x.shape);
}

/** Compares within TOL relative to max |expected|; returns the max abs error for reporting. */
function compare(actual: ort.Tensor, expected: NpyArray & { data: Float32Array }, what: string): number {
  assert.deepEqual([...actual.dims], expected.shape, `${what}: shape`);
  const got = actual.data as Float32Array;
  assert.equal(got.length, expected.data.length, `${what}: element count`);
  let maxErr = 0;
  let maxRef = 0;
  for (let i = 0; i < got.length; ++i) {
    const e = Math.abs(got[i] - expected.data[i]);
    if (!(e <= maxErr)) maxErr = e; // also catches NaN
    maxRef = Math.max(maxRef, Math.abs(expected.data[i]));
  }
  assert.ok(maxRef > 0, `${what}: reference is all zero`);
  assert.ok(maxErr <= TOL * maxRef, `${what}: max abs error ${maxErr} > ${TOL} x max |ref| ${maxRef}`);
  return maxErr;
}

function opCounts(model: OnnxTypes.ModelProto): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of model.graph?.node ?? []) counts.set(node.opType ?? '', (counts.get(node.opType ?? '') ?? 0) + 1);
  return counts;
}

for (const which of ['folded', 'unfolded'] as const) {
  test(`${MODELS[which]}: features match PyTorch (batch 4, and batch 1 through the dynamic axis)`, async (t) => {
    const { bytes } = await loadModel(which);
    const x = await reference('resnet18_w8_input.npy');
    const ref = await reference('resnet18_w8_features.npy');
    assert.deepEqual(x.shape, [4, 3, 32, 32]);
    assert.deepEqual(ref.shape, [4, 64]);
    const session = await ort.InferenceSession.create(bytes, opts);
    try {
      assert.deepEqual([...session.inputNames], ['input']);
      assert.deepEqual([...session.outputNames], ['features']);
      const out = await session.run({ input: inputTensor(x) });
      const err = compare(out.features, ref, `${which} features`);
      t.diagnostic(`${which} features: max abs error ${err.toExponential(3)}`);

      // One image alone gives row 0 of the batch result.
      const one = x.data.slice(0, 3 * 32 * 32);
      const out1 = await session.run({ input: new ort.Tensor('float32', one, [1, 3, 32, 32]) });
      const ref1 = { dtype: 'float32' as const, shape: [1, 64], data: ref.data.slice(0, 64) };
      compare(out1.features, ref1, `${which} features, batch 1`);
    } finally {
      await session.release();
    }
  });
}

test('BatchNormalization is folded into Conv in resnet18_w8.onnx and kept in resnet18_w8_bn.onnx', async (t) => {
  const folded = opCounts((await loadModel('folded')).model);
  const unfolded = opCounts((await loadModel('unfolded')).model);
  t.diagnostic(`folded ops: ${JSON.stringify(Object.fromEntries(folded))}`);
  t.diagnostic(`unfolded ops: ${JSON.stringify(Object.fromEntries(unfolded))}`);
  assert.equal(folded.get('BatchNormalization') ?? 0, 0);
  assert.equal(unfolded.get('BatchNormalization'), 20); // stem + 16 in blocks + 3 shortcut projections
  for (const counts of [folded, unfolded]) {
    assert.equal(counts.get('Conv'), 20);
    assert.equal(counts.get('Add'), 8);
    assert.equal(counts.get('Relu'), 17);
    assert.equal(counts.get('GlobalAveragePool'), 1);
  }
});

for (const which of ['folded', 'unfolded'] as const) {
  test(`${MODELS[which]}: stage outputs, added as extra graph outputs, match PyTorch`, async (t) => {
    const { model } = await loadModel(which);
    const graph = model.graph;
    assert.ok(graph, 'model has a graph');

    // Each stage tensor is the output of a Relu whose input comes from a residual Add.
    const producer = new Map<string, OnnxTypes.INodeProto>();
    for (const node of graph.node ?? []) for (const o of node.output ?? []) producer.set(o, node);
    const outputs = (graph.output ??= []);
    for (const s of STAGES) {
      const relu = producer.get(s.name);
      assert.equal(relu?.opType, 'Relu', `${which}: ${s.name} is produced by a Relu`);
      assert.equal(producer.get(relu.input?.[0] ?? '')?.opType, 'Add', `${which}: ${s.name} follows an Add`);
      outputs.push(
        onnx.ValueInfoProto.create({
          name: s.name,
          type: {
            tensorType: {
              elemType: onnx.TensorProto.DataType.FLOAT,
              shape: { dim: [{ dimParam: 'N' }, ...s.shape.map((d) => ({ dimValue: d }))] },
            },
          },
        }),
      );
    }
    const bytes = onnx.ModelProto.encode(model).finish();

    const x = await reference('resnet18_w8_input.npy');
    const session = await ort.InferenceSession.create(bytes, opts);
    try {
      const out = await session.run({ input: inputTensor(x) }, ['features', ...STAGES.map((s) => s.name)]);
      compare(out.features, await reference('resnet18_w8_features.npy'), `${which} features (with extra outputs)`);
      for (const s of STAGES) {
        const err = compare(out[s.name], await reference(s.file), `${which} ${s.file}`);
        t.diagnostic(`${which} ${s.file.replace('resnet18_w8_', '').replace('.npy', '')}: max abs error ${err.toExponential(3)}`);
      }
    } finally {
      await session.release();
    }
  });
}
