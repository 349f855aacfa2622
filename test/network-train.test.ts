// The Network with the existing Optimizer (zero-copy param/grad views): a loss falls over 20 Adam steps; memory
// planning: planned once per batch size, reused by later steps (same bytes, same plan count), re-planned at
// another batch; set/get of parameters and buffers; threads do not change results beyond rounding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network } from '../lib/train/network.ts';
import { Optimizer } from '../lib/train/optim.ts';
import type { NetworkSpec } from '../lib/train/spec.ts';
import { freshSeed, gaussian } from './helpers.ts';

function smallNet(seed: number): NetworkSpec {
  const p = (name: string, shape: number[], scale: number, k: number, offset = 0) => ({
    name, shape, data: gaussian(shape.reduce((a, b) => a * b, 1), seed + k, scale).map((v) => v + offset),
  });
  return {
    inputs: [{ name: 'x', shape: [3, 9, 9] }],
    outputs: ['y'],
    layers: [
      { op: 'Conv', name: 'c1', inputs: ['x'], outputs: ['a'], params: ['w1'], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] } },
      { op: 'BatchNormalization', name: 'bn1', inputs: ['a'], outputs: ['b'], params: ['g1', 'b1'], buffers: ['m1', 'v1'], attrs: {} },
      { op: 'Relu', name: 'r1', inputs: ['b'], outputs: ['r'], attrs: {} },
      { op: 'Conv', name: 'c2', inputs: ['r'], outputs: ['c'], params: ['w2', 'bias2'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Add', name: 'res', inputs: ['c', 'r'], outputs: ['s'], attrs: {} },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['s'], outputs: ['g'], attrs: {} },
      { op: 'Flatten', name: 'fl', inputs: ['g'], outputs: ['f'], attrs: {} },
      { op: 'Gemm', name: 'fc', inputs: ['f'], outputs: ['y'], params: ['w3', 'b3'], attrs: { transB: 1 } },
    ],
    params: [p('w1', [8, 3, 3, 3], 0.3, 1), p('g1', [8], 0.1, 2, 1), p('b1', [8], 0.1, 3), p('w2', [8, 8, 3, 3], 0.2, 4),
      p('bias2', [8], 0.1, 5), p('w3', [4, 8], 0.5, 6), p('b3', [4], 0.1, 7)],
    buffers: [{ name: 'm1', shape: [8] }, { name: 'v1', shape: [8], data: new Float32Array(8).fill(1) }],
  };
}

test('network + Adam: the loss on a fixed random target falls over 20 steps (zero-copy views)', () => {
  const seed = freshSeed('network-train');
  const net = Network.create(smallNet(seed));
  const batch = 6;
  const x = gaussian(batch * 3 * 81, seed + 100);
  const target = gaussian(batch * 4, seed + 101);
  const params = net.paramViews();
  assert.equal(params, params); // cached views: the same arrays on every call
  assert.equal(net.paramViews()[0], params[0]);
  const opt = Optimizer.create({ kind: 'adam', params, lr: 0.02 });
  const losses: number[] = [];
  for (let step = 0; step < 20; ++step) {
    const { y } = net.forward({ x });
    let loss = 0;
    const dy = new Float32Array(y.length);
    for (let i = 0; i < y.length; ++i) {
      loss += 0.5 * (y[i] - target[i]) ** 2;
      dy[i] = (y[i] - target[i]) / batch;
    }
    losses.push(loss / batch);
    net.backward({ y: dy });
    opt.step(net.gradViews());
  }
  assert.ok(losses[19] < 0.5 * losses[0], `loss fell: ${losses[0]} -> ${losses[19]}`);
  // The views are the network's weights: getParams sees the optimiser's updates.
  const got = net.getParams();
  for (const [i, name] of net.paramNames().entries()) assert.deepEqual(got[name], params[i]);
  assert.equal(net.planInfo().plans, 1, 'one plan for 20 steps at one batch size');
});

test('network: memory planned once per batch size and reused; re-planned when the batch changes', () => {
  const seed = freshSeed('network-plan');
  const net = Network.create(smallNet(seed), { threads: 1 });
  assert.equal(net.plannedBytes(), 0);
  const x3 = gaussian(3 * 243, seed + 1);
  const y1 = net.forward({ x: x3 }).y;
  const info1 = net.planInfo();
  assert.equal(info1.batch, 3);
  assert.equal(info1.plans, 1);
  assert.ok(info1.totalBytes > 0 && info1.totalBytes === net.plannedBytes());
  assert.equal(info1.totalBytes, info1.activationBytes + info1.gradientBytes + info1.scratchBytes + info1.workspaceBytes);
  net.backward({ y: new Float32Array(12).fill(1) });
  net.setMode('eval');
  net.forward({ x: x3 }, 3);
  assert.deepEqual(net.planInfo(), info1, 'same plan after a second forward at the same batch (and a mode change)');
  // Another batch: re-planned, bigger.
  net.setMode('train');
  const x5 = gaussian(5 * 243, seed + 2);
  assert.equal(net.forward({ x: x5 }).y.length, 20);
  const info2 = net.planInfo();
  assert.equal(info2.batch, 5);
  assert.equal(info2.plans, 2);
  assert.ok(info2.activationBytes > info1.activationBytes);
  // Gradient slots are shared by lifetime: less than one slot per activation.
  assert.ok(info2.gradientBytes < info2.activationBytes, `gradients ${info2.gradientBytes} < activations ${info2.activationBytes}`);
  // Back to batch 3 (train): the same result as the first time (fresh network, same weights and buffers).
  const again = Network.create(smallNet(seed), { threads: 2 });
  assert.equal(again.plan(3), info1.totalBytes);
  const y2 = again.forward({ x: x3 }).y;
  for (let i = 0; i < y1.length; ++i) assert.ok(Math.abs(y1[i] - y2[i]) <= 1e-5 * (1 + Math.abs(y1[i])), `threads: element ${i}`);
});

test('network forward into caller arrays: the same values, the same arrays back; bad ones are typed errors', async () => {
  const seed = freshSeed('network-into');
  const net = Network.create(smallNet(seed), { threads: 1 });
  const x = gaussian(3 * 243, seed + 1);
  const fresh = net.forward({ x }).y;
  const into = { y: new Float32Array(12).fill(Number.NaN) };
  const out = net.forward({ x }, undefined, { into });
  assert.equal(out.y, into.y, 'the caller\'s array is returned');
  assert.deepEqual(Array.from(into.y), Array.from(fresh));
  into.y.fill(Number.NaN);
  const outAsync = await net.forwardAsync({ x }, undefined, { into });
  assert.equal(outAsync.y, into.y);
  assert.deepEqual(Array.from(into.y), Array.from(fresh), 'forwardAsync fills it too');
  const code = (c: string, re: RegExp) => (e: unknown) => (e as { code?: string }).code === c && re.test((e as Error).message);
  assert.throws(() => net.forward({ x }, undefined, { into: { y: new Float32Array(5) } }), code('E_SHAPE_MISMATCH', /into\.y has 5 elements, the output has 12/));
  await assert.rejects(net.forwardAsync({ x }, undefined, { into: { y: new Float32Array(5) } }), code('E_SHAPE_MISMATCH', /forwardAsync into\.y has 5 elements/));
  assert.throws(() => net.forward({ x }, undefined, { into: { z: new Float32Array(12) } }), code('E_INVALID_ARGUMENT', /unknown output 'z' \(the network's: y\)/));
  assert.throws(() => net.forward({ x }, undefined, { into: { y: new Float64Array(12) as never } }), code('E_DTYPE', /into\.y must be a Float32Array/));
  // the network is usable after a refused call
  assert.deepEqual(Array.from(net.forward({ x }).y), Array.from(fresh));
});

test('network: set/get parameters and buffers by name', () => {
  const seed = freshSeed('network-params');
  const spec = smallNet(seed);
  const net = Network.create(spec);
  assert.deepEqual(net.paramNames(), spec.params.map((p) => p.name));
  assert.deepEqual(net.bufferNames(), ['m1', 'v1']);
  assert.deepEqual(net.paramShapes().w1, [8, 3, 3, 3]);
  assert.deepEqual(net.getParams().w2, spec.params[3].data);
  assert.deepEqual(net.getBuffers().m1, new Float32Array(8));
  const w3 = gaussian(32, seed + 9);
  net.setParams({ w3 });
  assert.deepEqual(net.getParams().w3, w3);
  assert.deepEqual(net.paramViews()[5], w3);
  net.setBuffers({ v1: new Float32Array(8).fill(2) });
  assert.deepEqual(net.getBuffers().v1, new Float32Array(8).fill(2));
  assert.throws(() => net.setParams({ nope: w3 }), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /nope/.test(e.message));
  assert.throws(() => net.setParams({ w3: new Float32Array(3) }), (e: { code?: string }) => e.code === 'E_SHAPE_MISMATCH');
  assert.throws(() => net.setParams({ w3: new Float32Array(32).fill(NaN) }), (e: { code?: string }) => e.code === 'E_NON_FINITE');
  // all or nothing
  assert.throws(() => net.setParams({ w3: new Float32Array(32), b3: new Float32Array(1) }), (e: { code?: string }) => e.code === 'E_SHAPE_MISMATCH');
  assert.deepEqual(net.getParams().w3, w3);
});

test('network profiling: per-layer calls and times while on, cleared by setProfiling(true), none while off', () => {
  const seed = freshSeed('network profiling');
  const net = Network.create(smallNet(seed));
  const x = gaussian(6 * 3 * 9 * 9, seed + 11);
  net.forward({ x });
  assert.ok(net.layerTimings().every((t) => t.forwardCalls === 0 && t.forwardSeconds === 0), 'nothing counted while off');
  net.setProfiling(true);
  const t0 = performance.now();
  net.forward({ x });
  net.forward({ x });
  net.backward({ y: gaussian(6 * 4, seed + 12) });
  const wall = (performance.now() - t0) / 1000;
  const timings = net.layerTimings();
  assert.deepEqual(timings.map((t) => t.name), ['c1', 'bn1', 'r1', 'c2', 'res', 'gap', 'fl', 'fc']);
  assert.deepEqual(timings.map((t) => [t.forwardCalls, t.backwardCalls]), timings.map(() => [2, 1]));
  assert.equal(timings[1].op, 'BatchNormalization');
  assert.deepEqual(timings[0].inputShape, [6, 3, 9, 9]);
  assert.deepEqual(timings[0].outputShape, [6, 8, 5, 5]);
  const total = timings.reduce((s, t) => s + t.forwardSeconds + t.backwardSeconds, 0);
  assert.ok(timings.every((t) => t.forwardSeconds > 0 && t.backwardSeconds >= 0), 'every layer took some time');
  assert.ok(total <= wall, `layer times ${total} s within the calls' wall time ${wall} s`);
  net.setProfiling(false);
  net.forward({ x });
  assert.equal(net.layerTimings()[0].forwardCalls, 2, 'off: no more counting');
  net.setProfiling(true);
  assert.ok(net.layerTimings().every((t) => t.forwardCalls === 0 && t.backwardCalls === 0), 'on again: cleared');
});
