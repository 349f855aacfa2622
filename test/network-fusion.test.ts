// The network's BN -> Add fusion (a BN whose only consumer is an Add computes its statistics only; the Add applies
// it while adding, ops::bn_add_forward) against the same network with the fusion off: making the BN outputs graph
// outputs too keeps them written, so the second network runs batchnorm_forward then add(_relu)_forward. Outputs,
// running statistics and every parameter gradient must be the same bits, in train, eval and frozen-bn modes, for
// both inputs of the Add from BNs (a downsampling block), one (an identity shortcut), with and without the ReLU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network } from '../lib/train/network.ts';
import type { NetworkSpec } from '../lib/train/spec.ts';
import { freshSeed, gaussian } from './helpers.ts';

type Shortcut = 'bn' | 'identity';

function blockSpec(seed: number, shortcut: Shortcut, relu: boolean, extraOutputs: string[]): NetworkSpec {
  let k = 0;
  const p = (name: string, shape: number[], scale: number, offset = 0) => ({
    name, shape, data: gaussian(shape.reduce((a, b) => a * b, 1), seed + ++k, scale).map((v) => v + offset),
  });
  const bnParams = (n: string) => [p(`${n}.g`, [6], 0.2, 1), p(`${n}.b`, [6], 0.3)];
  const bnBuffers = (n: string) => [{ name: `${n}.m`, shape: [6], data: gaussian(6, seed + 90 + n.length, 0.2) },
    { name: `${n}.v`, shape: [6], data: Float32Array.from({ length: 6 }, (_, i) => 0.5 + 0.1 * i) }];
  const bn = (name: string, input: string, output: string) => ({
    op: 'BatchNormalization' as const, name, inputs: [input], outputs: [output], params: [`${name}.g`, `${name}.b`], buffers: [`${name}.m`, `${name}.v`], attrs: {},
  });
  const layers: NetworkSpec['layers'] = [
    { op: 'Conv', name: 'stem', inputs: ['x'], outputs: ['h0'], params: ['stem.w'], attrs: { pads: [1, 1, 1, 1] } },
    bn('bn0', 'h0', 'h0n'),
    { op: 'Relu', name: 'r0', inputs: ['h0n'], outputs: ['h'], attrs: {} },
    { op: 'Conv', name: 'c1', inputs: ['h'], outputs: ['a1'], params: ['c1.w'], attrs: { pads: [1, 1, 1, 1] } },
    bn('bn1', 'a1', 'a1n'),
    { op: 'Relu', name: 'r1', inputs: ['a1n'], outputs: ['a1r'], attrs: {} },
    { op: 'Conv', name: 'c2', inputs: ['a1r'], outputs: ['a2'], params: ['c2.w'], attrs: { pads: [1, 1, 1, 1] } },
    bn('bn2', 'a2', 'a2n'),
  ];
  let skip = 'h';
  if (shortcut === 'bn') {
    layers.push({ op: 'Conv', name: 'sc', inputs: ['h'], outputs: ['s'], params: ['sc.w'], attrs: {} }, bn('bns', 's', 'sn'));
    skip = 'sn';
  }
  layers.push({ op: 'Add', name: 'add', inputs: ['a2n', skip], outputs: ['sum'], attrs: {} });
  let last = 'sum';
  if (relu) {
    layers.push({ op: 'Relu', name: 'ra', inputs: ['sum'], outputs: ['out'], attrs: {} });
    last = 'out';
  }
  layers.push({ op: 'GlobalAveragePool', name: 'gap', inputs: [last], outputs: ['g'], attrs: {} },
    { op: 'Flatten', name: 'fl', inputs: ['g'], outputs: ['y'], attrs: {} });
  const names = ['bn0', 'bn1', 'bn2', ...(shortcut === 'bn' ? ['bns'] : [])];
  return {
    inputs: [{ name: 'x', shape: [3, 7, 6] }],
    outputs: ['y', ...extraOutputs],
    layers,
    params: [p('stem.w', [6, 3, 3, 3], 0.3), p('c1.w', [6, 6, 3, 3], 0.2), p('c2.w', [6, 6, 3, 3], 0.2),
      ...(shortcut === 'bn' ? [p('sc.w', [6, 6, 1, 1], 0.4)] : []), ...names.flatMap(bnParams)],
    buffers: names.flatMap(bnBuffers),
  };
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

for (const shortcut of ['bn', 'identity'] as const)
  for (const relu of [true, false])
    test(`BN -> Add fused (${shortcut} shortcut, ${relu ? 'Add + ReLU' : 'Add'}): the same bits as unfused in train / eval / frozen`, () => {
      const seed = freshSeed(`bn-add ${shortcut} ${relu}`);
      const bnOuts = ['a2n', ...(shortcut === 'bn' ? ['sn'] : [])];
      const fused = Network.create(blockSpec(seed, shortcut, relu, []));
      const plain = Network.create(blockSpec(seed, shortcut, relu, bnOuts));
      const batch = 5;
      const x = gaussian(batch * 3 * 42, seed + 200, 1.5);
      const dy = gaussian(batch * 6, seed + 201);
      for (const mode of ['train', 'eval', 'frozen-bn'] as const) {
        fused.setMode(mode);
        plain.setMode(mode);
        const yf = fused.forward({ x }).y, yp = plain.forward({ x }).y;
        assert.deepEqual(bits(yf), bits(yp), `${mode}: y`);
        assert.ok(yf.some((v) => v !== 0), `${mode}: y not all zero`);
        if (mode === 'eval') continue;  // eval: the ONNX exporter's mode; its backward is exercised elsewhere
        fused.backward({ y: dy });
        plain.backward({ y: dy });
        const gf = fused.getGrads(), gp = plain.getGrads();
        for (const name of Object.keys(gp)) assert.deepEqual(bits(gf[name]), bits(gp[name]), `${mode}: gradient of ${name}`);
        const bf = fused.getBuffers(), bp = plain.getBuffers();
        for (const name of Object.keys(bp)) assert.deepEqual(bits(bf[name]), bits(bp[name]), `${mode}: buffer ${name}`);
      }
    });
