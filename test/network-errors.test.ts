// Network spec validation and misuse: every error is a MimicError with a stable code and names the layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network } from '../lib/train/network.ts';
import { MimicError } from '../lib/errors.ts';
import type { LayerSpec, NetworkSpec } from '../lib/train/spec.ts';

function base(): NetworkSpec {
  return {
    inputs: [{ name: 'x', shape: [2, 5, 5] }],
    outputs: ['y'],
    layers: [
      { op: 'Conv', name: 'conv', inputs: ['x'], outputs: ['c'], params: ['w'], attrs: { pads: [1, 1, 1, 1] } },
      { op: 'Relu', name: 'relu', inputs: ['c'], outputs: ['y'], attrs: {} },
    ],
    params: [{ name: 'w', shape: [3, 2, 3, 3], data: new Float32Array(54).fill(0.1) }],
    buffers: [],
  };
}
function withLayers(mod: (l: LayerSpec[]) => void, extra: Partial<NetworkSpec> = {}): NetworkSpec {
  const s = base();
  mod(s.layers);
  return { ...s, ...extra };
}
function throwsCode(spec: NetworkSpec, code: string, re: RegExp) {
  assert.throws(() => Network.create(spec), (e: unknown) => {
    assert.ok(e instanceof MimicError, `a MimicError (got ${String(e)})`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, re);
    return true;
  });
}

test('network errors: unknown ops, tensor order, writers, parameters, attributes', () => {
  Network.create(base()); // the base is valid
  throwsCode(withLayers((l) => { l[1] = { ...l[1], op: 'Sigmoid' as never }; }), 'E_UNSUPPORTED', /layer 'relu'.*'Sigmoid'.*supported: Conv, BatchNormalization, Relu/);
  throwsCode(withLayers((l) => l.reverse()), 'E_INVALID_ARGUMENT', /layer 'relu'.*reads tensor 'c' before any layer writes it/);
  throwsCode(withLayers((l) => { l.push({ op: 'Relu', name: 'again', inputs: ['c'], outputs: ['y'], attrs: {} }); }), 'E_INVALID_ARGUMENT', /layer 'again'.*'y'.*layer 'relu' already writes/);
  throwsCode(withLayers((l) => { l[0].outputs = ['x']; }), 'E_INVALID_ARGUMENT', /layer 'conv'.*'x'.*graph input/);
  throwsCode(withLayers(() => {}, { params: [{ name: 'w', shape: [3, 4, 3, 3], data: new Float32Array(108) }] }), 'E_SHAPE_MISMATCH', /layer 'conv'.*weight 'w' has shape \[3, 4, 3, 3\].*2 input channels/);
  throwsCode(withLayers(() => {}, { params: [{ name: 'w', shape: [3, 2, 3, 3], data: new Float32Array(5) }] }), 'E_SHAPE_MISMATCH', /parameter 'w' has 5 values/);
  throwsCode(withLayers(() => {}, { params: [{ name: 'w', shape: [3, 2, 3, 3] }] }), 'E_INVALID_ARGUMENT', /parameter 'w' has no data/);
  throwsCode(withLayers((l) => { l[0].params = ['w', 'missing']; }), 'E_INVALID_ARGUMENT', /layer 'conv'.*parameter 'missing'/);
  throwsCode(withLayers((l) => { l[0].params = []; }), 'E_INVALID_ARGUMENT', /layer 'conv'.*0 parameters, expected 1-2/);
  throwsCode(withLayers((l) => { l[0].attrs = { strides: [0, 1] }; }), 'E_INVALID_ARGUMENT', /layer 'conv'.*'strides'.*integers >= 1/);
  throwsCode(withLayers((l) => { l[0].attrs = { pads: [1, 1] }; }), 'E_INVALID_ARGUMENT', /layer 'conv'.*'pads' must be a list of 4/);
  throwsCode(withLayers((l) => { l[0].attrs = { auto_pad: 1 }; }), 'E_INVALID_ARGUMENT', /layer 'conv'.*unknown attribute 'auto_pad'/);
  throwsCode(withLayers((l) => { l[0].attrs = { kernel_shape: [5, 5] }; }), 'E_SHAPE_MISMATCH', /layer 'conv'.*kernel_shape/);
  throwsCode(withLayers((l) => { l[0].attrs = { group: 2 }; }), 'E_INVALID_ARGUMENT', /layer 'conv'.*group 2/);
  throwsCode(withLayers((l) => { l[1] = { op: 'Add', name: 'add', inputs: ['c', 'x'], outputs: ['y'], attrs: {} }; }), 'E_SHAPE_MISMATCH', /layer 'add'.*differ/);
  throwsCode(withLayers((l) => { l[1] = { op: 'MaxPool', name: 'mp', inputs: ['c'], outputs: ['y'], attrs: {} }; }), 'E_INVALID_ARGUMENT', /layer 'mp'.*kernel_shape' is required/);
  throwsCode(withLayers((l) => { l[1] = { op: 'MaxPool', name: 'mp', inputs: ['c'], outputs: ['y'], attrs: { kernel_shape: [9, 9] } }; }), 'E_SHAPE_MISMATCH', /layer 'mp'.*larger than the padded input/);
  throwsCode(withLayers((l) => { l[1] = { op: 'Flatten', name: 'fl', inputs: ['c'], outputs: ['f'], attrs: {} }; l.push({ op: 'Gemm', name: 'fc', inputs: ['f'], outputs: ['y'], params: ['fw'], attrs: { transB: 1, alpha: 2 } }); }, { params: [...base().params, { name: 'fw', shape: [4, 75], data: new Float32Array(300) }] }), 'E_UNSUPPORTED', /layer 'fc'.*'alpha'/);
  throwsCode(withLayers((l) => { l[1] = { op: 'Flatten', name: 'fl', inputs: ['c'], outputs: ['f'], attrs: {} }; l.push({ op: 'Gemm', name: 'fc', inputs: ['f'], outputs: ['y'], params: ['fw'], attrs: { transB: 1 } }); }, { params: [...base().params, { name: 'fw', shape: [4, 74], data: new Float32Array(296) }] }), 'E_SHAPE_MISMATCH', /layer 'fc'.*weight 'fw'.*\(out, 75\)/);
  throwsCode(withLayers((l) => { l[1] = { op: 'BatchNormalization', name: 'bn', inputs: ['c'], outputs: ['y'], params: ['g', 'b'], attrs: {} }; }, { params: [...base().params, { name: 'g', shape: [3], data: new Float32Array(3) }, { name: 'b', shape: [3], data: new Float32Array(3) }] }), 'E_INVALID_ARGUMENT', /layer 'bn'.*0 buffers, expected 2/);
  throwsCode(withLayers((l) => { l[1] = { op: 'BatchNormalization', name: 'bn', inputs: ['c'], outputs: ['y'], params: ['g', 'b'], buffers: ['m', 'v'], attrs: { momentum: 2 } }; }, { params: [...base().params, { name: 'g', shape: [3], data: new Float32Array(3) }, { name: 'b', shape: [3], data: new Float32Array(3) }], buffers: [{ name: 'm', shape: [3] }, { name: 'v', shape: [3] }] }), 'E_INVALID_ARGUMENT', /layer 'bn'.*momentum/);
  throwsCode(withLayers((l) => { l[1] = { op: 'BatchNormalization', name: 'bn', inputs: ['c'], outputs: ['y'], params: ['g', 'b'], buffers: ['m', 'v'], attrs: {} }; }, { params: [...base().params, { name: 'g', shape: [4], data: new Float32Array(4) }, { name: 'b', shape: [3], data: new Float32Array(3) }], buffers: [{ name: 'm', shape: [3] }, { name: 'v', shape: [3] }] }), 'E_SHAPE_MISMATCH', /layer 'bn'.*scale 'g' has shape \[4\], expected \[3\]/);
  throwsCode(withLayers((l) => { l[1] = { op: 'Reshape', name: 'rs', inputs: ['c'], outputs: ['y'], attrs: { shape: [0, 7] } }; }), 'E_SHAPE_MISMATCH', /layer 'rs'/);
  throwsCode(withLayers((l) => { l[1] = { op: 'L2Norm', name: 'l2', inputs: ['c'], outputs: ['y'], attrs: {} }; }), 'E_SHAPE_MISMATCH', /layer 'l2'.*rank 2/);
  throwsCode(withLayers(() => {}, { outputs: ['nowhere'] }), 'E_INVALID_ARGUMENT', /graph output 'nowhere'/);
  throwsCode(withLayers(() => {}, { params: [...base().params, { name: 'unused', shape: [1], data: new Float32Array(1) }] }), 'E_INVALID_ARGUMENT', /parameter 'unused' is not used/);
  throwsCode(withLayers((l) => { l.push({ op: 'Conv', name: 'conv2', inputs: ['y'], outputs: ['z'], params: ['w'], attrs: {} }); }), 'E_INVALID_ARGUMENT', /layer 'conv2'.*'w'.*layer 'conv' already uses/);
});

test('network errors: forward / backward misuse', () => {
  const net = Network.create(base());
  assert.throws(() => net.backward({ y: new Float32Array(75) }), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /forward first/.test(e.message));
  assert.throws(() => net.forward({ x: new Float32Array(49) }), (e: { code?: string }) => e.code === 'E_SHAPE_MISMATCH');
  assert.throws(() => net.forward({ x: new Float32Array(100) }, 3), (e: { code?: string; message: string }) => e.code === 'E_SHAPE_MISMATCH' && /batch 3/.test(e.message));
  assert.throws(() => net.forward({}), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /missing input 'x'/.test(e.message));
  assert.throws(() => net.forward({ x: new Float32Array(50), z: new Float32Array(1) }), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /unknown input 'z'/.test(e.message));
  assert.throws(() => net.forward({ x: new Float64Array(50) as unknown as Float32Array }), (e: { code?: string }) => e.code === 'E_DTYPE');
  assert.throws(() => net.setMode('test' as never), (e: { code?: string }) => e.code === 'E_INVALID_ARGUMENT');
  net.forward({ x: new Float32Array(100) });
  assert.throws(() => net.backward({ y: new Float32Array(3) }), (e: { code?: string }) => e.code === 'E_SHAPE_MISMATCH');
  net.setMode('eval');
  assert.throws(() => net.backward({ y: new Float32Array(150) }), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /mode changed/.test(e.message));
  // BatchNorm in train mode needs more than one value per channel.
  const bn: NetworkSpec = {
    inputs: [{ name: 'x', shape: [3] }], outputs: ['y'],
    layers: [{ op: 'BatchNormalization', name: 'bn', inputs: ['x'], outputs: ['y'], params: ['g', 'b'], buffers: ['m', 'v'], attrs: {} }],
    params: [{ name: 'g', shape: [3], data: new Float32Array(3).fill(1) }, { name: 'b', shape: [3], data: new Float32Array(3) }],
    buffers: [{ name: 'm', shape: [3] }, { name: 'v', shape: [3], data: new Float32Array(3).fill(1) }],
  };
  const b = Network.create(bn);
  assert.throws(() => b.forward({ x: new Float32Array(3) }), (e: { code?: string; message: string }) => e.code === 'E_INVALID_ARGUMENT' && /layer 'bn'.*more than one value per channel/.test(e.message));
  b.setMode('eval');
  assert.deepEqual(b.forward({ x: new Float32Array([1, 2, 3]) }).y.length, 3);
  assert.ok(Network.supportedOps.includes('L2Norm'));
});
