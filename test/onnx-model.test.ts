// ONNX models: builder, encode/decode round trip, summary, save/load, graph helpers, and every safety error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { MimicError } from '../lib/errors.ts';
import { ModelBuilder, buildConvEncoder } from '../lib/onnx/build.ts';
import {
  consumersOf, decodeModel, encodeModel, loadModel, onnx, producerOf, saveModel, summarize, topoOrder, type ModelProto,
} from '../lib/onnx/model.ts';
import { freshSeed, gaussian } from './helpers.ts';

const ortOpts: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 };

async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mimic-onnx-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function expectMimic(fn: () => unknown, code: string, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MimicError, `expected a MimicError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `message '${e.message}' should mention '${p}'`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

async function expectMimicAsync(p: Promise<unknown>, code: string, ...parts: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MimicError, `expected a MimicError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const s of parts) assert.ok(e.message.includes(s), `message '${e.message}' should mention '${s}'`);
    return true;
  });
}

/** x [N, 4] -> Gemm(W [3,4], b) -> Relu -> y; plus a MatMul/Add branch: z = x @ M + c. */
function tinyModel(seed: number) {
  const b = new ModelBuilder({ seed });
  const x = b.input('x', ['N', 4]);
  const h = b.node('Gemm', [x, b.initializer('W', gaussian(12, seed), [3, 4]), b.initializer('bias', gaussian(3, seed + 1), [3])], { transB: 1 }, { output: 'h', name: 'gemm' });
  const y = b.relu(h, 'y');
  const m = b.matMul(x, b.initializer('M', gaussian(8, seed + 2), [4, 2]), 'xm');
  const z = b.add(m, b.initializer('c', gaussian(2, seed + 3), [2]), 'z');
  b.output(y, ['N', 3]).output(z, ['N', 2]).valueInfo('h', ['N', 3]);
  return b;
}

test('builder: a Gemm/Relu/MatMul/Add model runs in onnxruntime and matches a plain computation', async () => {
  const seed = freshSeed('onnx-model builder');
  const model = tinyModel(seed).build();
  const bytes = encodeModel(model);
  const s = await ort.InferenceSession.create(bytes, ortOpts);
  const x = gaussian(8, seed + 9);
  const out = await s.run({ x: new ort.Tensor('float32', x, [2, 4]) });
  const W = gaussian(12, seed), bias = gaussian(3, seed + 1), M = gaussian(8, seed + 2), c = gaussian(2, seed + 3);
  for (let n = 0; n < 2; ++n) {
    for (let o = 0; o < 3; ++o) {
      let acc = bias[o];
      for (let k = 0; k < 4; ++k) acc += x[n * 4 + k] * W[o * 4 + k];
      assert.ok(Math.abs((out.y.data as Float32Array)[n * 3 + o] - Math.max(0, acc)) < 1e-5);
    }
    for (let o = 0; o < 2; ++o) {
      let acc = c[o];
      for (let k = 0; k < 4; ++k) acc += x[n * 4 + k] * M[k * 2 + o];
      assert.ok(Math.abs((out.z.data as Float32Array)[n * 2 + o] - acc) < 1e-5);
    }
  }
  await s.release();
});

test('builder: the conv encoder runs (with and without BN, Gemm) with the declared feature size', async () => {
  for (const opts of [{}, { batchNorm: true, embedDim: 5 }, { residual: false, widths: [3, 5], imageSize: 12 }]) {
    const enc = buildConvEncoder({ seed: 3, ...opts });
    const s = await ort.InferenceSession.create(enc.bytes, ortOpts);
    const size = (opts as { imageSize?: number }).imageSize ?? 16;
    const out = await s.run({ [enc.input]: new ort.Tensor('float32', gaussian(2 * 3 * size * size, 5), [2, 3, size, size]) });
    assert.deepEqual(out[enc.features].dims, [2, enc.featureDim]);
    for (const v of out[enc.features].data as Float32Array) assert.ok(Number.isFinite(v));
    await s.release();
  }
  // MaxPool and Reshape too
  const b = new ModelBuilder();
  const x = b.input('x', [1, 2, 4, 4]);
  b.output(b.reshape(b.maxPool(x, 2), [1, -1], 'r'), [1, 8]);
  const s = await ort.InferenceSession.create(b.bytes(), ortOpts);
  const data = Float32Array.from({ length: 32 }, (_, i) => i);
  const r = (await s.run({ x: new ort.Tensor('float32', data, [1, 2, 4, 4]) })).r;
  assert.deepEqual(Array.from(r.data as Float32Array), [5, 7, 13, 15, 21, 23, 29, 31]);
  await s.release();
});

test('encode / decode round trip is byte-exact, and the summary describes the model', () => {
  const enc = buildConvEncoder({ seed: 2, embedDim: 6 });
  const m = decodeModel(enc.bytes);
  assert.deepEqual(encodeModel(m), enc.bytes);
  const s = summarize(m);
  assert.equal(s.irVersion, 8);
  assert.equal(s.opset, 13);
  assert.equal(s.producer.name, 'mimic-engine');
  assert.deepEqual(s.inputs, [{ name: 'input', elemType: 'FLOAT', shape: ['N', 3, 16, 16] }]);
  assert.deepEqual(s.outputs, [{ name: 'features', elemType: 'FLOAT', shape: ['N', 6] }]);
  // every initializer is listed with its dims, and the node list matches the graph
  assert.equal(s.initializers.length, m.graph!.initializer!.length);
  const w0 = s.initializers.find((t) => t.name === m.graph!.node![0].input![1])!;
  assert.deepEqual(w0.dims, [4, 3, 3, 3]);
  assert.equal(w0.elemType, 'FLOAT');
  assert.equal(s.nodes.length, m.graph!.node!.length);
  assert.deepEqual(s.nodes[0].inputs.slice(0, 1), ['input']);
  assert.equal(s.opCounts.GlobalAveragePool, 1);
  assert.equal(s.opCounts.Gemm, 1);
  // stage 1 keeps its width (no shortcut conv), stages 2 and 3 get one: 1 stem + 3 x 2 + 2 = 9 convs
  assert.equal(s.opCounts.Conv, 9);
  assert.equal(s.parameters, s.initializers.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0));

  const t = decodeModel(tinyModel(1).bytes());
  const st = summarize(t);
  assert.deepEqual(st.valueInfos, [{ name: 'h', elemType: 'FLOAT', shape: ['N', 3] }]);
  assert.deepEqual(st.nodes.find((n) => n.name === 'gemm'), { name: 'gemm', opType: 'Gemm', domain: '', inputs: ['x', 'W', 'bias'], outputs: ['h'] });
});

test('saveModel writes atomically and loadModel reads it back', async () => {
  await withTmp(async (dir) => {
    const m = tinyModel(4).build();
    const file = join(dir, 'tiny.onnx');
    await saveModel(m, file);
    assert.deepEqual(await readdir(dir), ['tiny.onnx']);
    const back = await loadModel(file);
    assert.deepEqual(encodeModel(back), encodeModel(m));
    await saveModel(back, file); // overwrite
    assert.deepEqual(await readdir(dir), ['tiny.onnx']);
    await expectMimicAsync(loadModel(join(dir, 'nope.onnx')), 'E_FILE', 'nope.onnx');
    await expectMimicAsync(saveModel(m, join(dir, 'missing-dir', 'x.onnx')), 'E_FILE', 'x.onnx');
  });
});

test('producer / consumers / topological order (also of a shuffled graph)', () => {
  const seed = freshSeed('onnx-model topo');
  const enc = buildConvEncoder({ seed: 5 });
  const m = decodeModel(enc.bytes);
  assert.equal(producerOf(m, 'stage2')!.opType, 'Relu');
  assert.equal(producerOf(m, 'input'), undefined);
  const cons = consumersOf(m, 'stage1').map((n) => n.opType).sort();
  assert.deepEqual(cons, ['Conv', 'Conv']); // stage 2's first conv and its shortcut
  assert.deepEqual(topoOrder(m).map((n) => n.name), m.graph!.node!.map((n) => n.name)); // sorted stays sorted
  // shuffle the nodes: the order must still put every producer before its consumers
  const shuffled = onnx.ModelProto.decode(enc.bytes);
  const nodes = shuffled.graph!.node!;
  let r = seed >>> 0;
  for (let i = nodes.length - 1; i > 0; --i) {
    r = (Math.imul(r, 1103515245) + 12345) >>> 0;
    const j = r % (i + 1);
    [nodes[i], nodes[j]] = [nodes[j], nodes[i]];
  }
  const order = topoOrder(shuffled);
  assert.equal(order.length, nodes.length);
  const done = new Set<string>(['input', ...shuffled.graph!.initializer!.map((t) => t.name!)]);
  for (const n of order) {
    for (const i of n.input!) assert.ok(done.has(i), `${n.name} runs before its input ${i}`);
    for (const o of n.output!) done.add(o);
  }
  decodeModel(encodeModel(shuffled)); // an unsorted but acyclic graph is valid
});

// ---- safety ----

function mutate(b: ModelBuilder, fn: (m: ModelProto) => void): Uint8Array {
  const m = b.build();
  fn(m);
  return encodeModel(m);
}

test('safety: cycles, dangling inputs, duplicate outputs, empty graphs name the node and tensor', () => {
  // cycle: a = Relu(b), b = Relu(a)
  const cyc = new ModelBuilder();
  cyc.input('x', [1]);
  cyc.node('Add', ['x', 'b'], {}, { output: 'a', name: 'first' });
  cyc.node('Relu', ['a'], {}, { output: 'b', name: 'second' });
  cyc.output('b');
  expectMimic(() => decodeModel(cyc.bytes()), 'E_ONNX', 'cycle', /'(first|second)'/, /'(a|b)'/);
  // self loop
  const self = new ModelBuilder();
  self.input('x', [1]);
  self.node('Add', ['x', 'y'], {}, { output: 'y', name: 'loop' });
  self.output('y');
  expectMimic(() => decodeModel(self.bytes()), 'E_ONNX', 'cycle', "'loop'", "'y'");
  // dangling input
  const dang = new ModelBuilder();
  dang.input('x', [1]);
  dang.node('Add', ['x', 'ghost'], {}, { output: 'y', name: 'adder' });
  dang.output('y');
  expectMimic(() => decodeModel(dang.bytes(), { source: 'dang.onnx' }), 'E_ONNX', 'dang.onnx', "'adder'", "'ghost'");
  // duplicate output names (two nodes write 'y'), and a node overwriting an initializer
  const dup = mutate(tinyModel(1), (m) => { m.graph!.node![3].output = ['y']; });
  expectMimic(() => decodeModel(dup), 'E_ONNX', "'y'", 'already');
  const dupInit = mutate(tinyModel(1), (m) => { m.graph!.node![1].output = ['W']; });
  expectMimic(() => decodeModel(dupInit), 'E_ONNX', "'W'", 'initializer');
  const dupInit2 = mutate(tinyModel(1), (m) => { m.graph!.initializer!.push(m.graph!.initializer![0]); });
  expectMimic(() => decodeModel(dupInit2), 'E_ONNX', "'W'", 'twice');
  // empty graph, no outputs, no graph, output nobody produces
  expectMimic(() => decodeModel(mutate(tinyModel(1), (m) => { m.graph!.node = []; })), 'E_ONNX', 'empty');
  expectMimic(() => decodeModel(mutate(tinyModel(1), (m) => { m.graph!.output = []; })), 'E_ONNX', 'no outputs');
  expectMimic(() => decodeModel(encodeModel(onnx.ModelProto.create({ irVersion: 8 }))), 'E_ONNX', 'no graph');
  expectMimic(() => decodeModel(mutate(tinyModel(1), (m) => { m.graph!.output![0].name = 'nowhere'; })), 'E_ONNX', "'nowhere'");
  expectMimic(() => decodeModel(mutate(tinyModel(1), (m) => { m.graph!.node![0].opType = ''; })), 'E_ONNX', "'gemm'", 'op type');
});

test('safety: dims must be sane (negative other than -1, absurd sizes, data size mismatches)', () => {
  const setInitDim = (d: number) => mutate(tinyModel(1), (m) => { m.graph!.initializer![0].dims = [3, d]; });
  expectMimic(() => decodeModel(setInitDim(-1)), 'E_ONNX', "initializer 'W'", '-1');
  expectMimic(() => decodeModel(setInitDim(2 ** 40)), 'E_ONNX', "initializer 'W'");
  expectMimic(() => decodeModel(setInitDim(5)), 'E_ONNX', "initializer 'W'", '48', '60');
  expectMimic(() => decodeModel(mutate(tinyModel(1), (m) => { m.graph!.initializer![0].dims = [2 ** 20, 2 ** 20, 2 ** 20]; })), 'E_ONNX', 'absurd');
  expectMimic(() => decodeModel(mutate(tinyModel(1), (m) => { m.graph!.initializer![0].dataType = 0; })), 'E_ONNX', "'W'", 'element type');
  // typed-field data count must match too
  expectMimic(() => decodeModel(mutate(tinyModel(1), (m) => {
    const t = m.graph!.initializer![1];
    t.rawData = new Uint8Array(0);
    t.floatData = [1, 2];
  })), 'E_ONNX', "'bias'", 'float_data');
  const setVi = (d: number) => mutate(tinyModel(1), (m) => { m.graph!.valueInfo![0].type!.tensorType!.shape!.dim![1] = { dimValue: d }; });
  expectMimic(() => decodeModel(setVi(-3)), 'E_ONNX', "value info 'h'", '-3');
  expectMimic(() => decodeModel(setVi(2 ** 33)), 'E_ONNX', "value info 'h'");
  decodeModel(setVi(-1)); // -1: unknown, accepted
  const setIn = (d: number) => mutate(tinyModel(1), (m) => { m.graph!.input![0].type!.tensorType!.shape!.dim![1] = { dimValue: d }; });
  expectMimic(() => decodeModel(setIn(-2)), 'E_ONNX', "graph input 'x'");
  const setOut = mutate(tinyModel(1), (m) => { m.graph!.output![0].type!.tensorType!.shape!.dim = [{ dimValue: 2 ** 31 - 1 }, { dimValue: 2 ** 31 - 1 }, { dimValue: 2 ** 31 - 1 }]; });
  expectMimic(() => decodeModel(setOut), 'E_ONNX', "graph output 'y'", 'absurd');
});

test('safety: truncated or corrupted protobuf is E_FORMAT naming the file', async () => {
  await withTmp(async (dir) => {
    const bytes = buildConvEncoder({ seed: 1 }).bytes;
    const file = join(dir, 'cut.onnx');
    await writeFile(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expectMimicAsync(loadModel(file), 'E_FORMAT', file);
    await writeFile(file, new Uint8Array(0));
    await expectMimicAsync(loadModel(file), 'E_FORMAT', file, 'empty');
    const junk = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 255);
    await writeFile(file, junk);
    await expectMimicAsync(loadModel(file), 'E_FORMAT', file);
  });
  expectMimic(() => decodeModel(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2])), 'E_FORMAT', '<bytes>');
});

/** The tiny model with initializer W moved to an external file at `location` (data written to `dataFile`). */
async function externalModel(dir: string, location: string, dataFile: string | null, opts: { truncate?: number; offset?: number } = {}) {
  const m = tinyModel(7).build();
  const w = m.graph!.initializer![0];
  const raw = Uint8Array.from(w.rawData!);
  const offset = opts.offset ?? 0;
  if (dataFile) {
    const buf = new Uint8Array(offset + raw.length);
    buf.set(raw, offset);
    await writeFile(dataFile, buf.subarray(0, buf.length - (opts.truncate ?? 0)));
  }
  w.rawData = new Uint8Array(0);
  w.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
  w.externalData = [
    { key: 'location', value: location },
    { key: 'offset', value: String(offset) },
    { key: 'length', value: String(raw.length) },
  ];
  const file = join(dir, 'model.onnx');
  await saveModel(m, file);
  return { file, raw };
}

test('safety: external data is read from inside the model folder only, and must be complete', async () => {
  await withTmp(async (root) => {
    const dir = join(root, 'model');
    await (await import('node:fs/promises')).mkdir(dir);
    // valid: inlined, and the model computes what the inline one computes
    const { file, raw } = await externalModel(dir, 'weights.bin', join(dir, 'weights.bin'), { offset: 16 });
    const loaded = await loadModel(file);
    const w = loaded.graph!.initializer![0];
    assert.deepEqual(Uint8Array.from(w.rawData!), raw);
    assert.equal(w.dataLocation, 0);
    const a = await ort.InferenceSession.create(encodeModel(loaded), ortOpts);
    const b = await ort.InferenceSession.create(tinyModel(7).bytes(), ortOpts);
    const feed = { x: new ort.Tensor('float32', gaussian(4, 3), [1, 4]) };
    assert.deepEqual(Array.from((await a.run(feed)).y.data as Float32Array), Array.from((await b.run(feed)).y.data as Float32Array));
    await a.release(); await b.release();
    // from bytes: needs the folder
    const bytes = new Uint8Array(await (await import('node:fs/promises')).readFile(file));
    await expectMimicAsync(loadModel(bytes), 'E_ONNX', "'W'", 'external');
    expectMimic(() => decodeModel(bytes), 'E_ONNX', "'W'", 'external');
    assert.equal((await loadModel(bytes, { baseDir: dir })).graph!.initializer![0].rawData!.length, raw.length);

    // absolute location, '..' escape, symlink resolving outside
    await writeFile(join(root, 'outside.bin'), raw);
    await externalModel(dir, join(root, 'outside.bin'), null);
    await expectMimicAsync(loadModel(file), 'E_ONNX', "'W'", join(root, 'outside.bin'), 'absolute');
    await externalModel(dir, '../outside.bin', null);
    await expectMimicAsync(loadModel(file), 'E_ONNX', "'W'", '../outside.bin', 'escapes');
    await externalModel(dir, 'sub/../../outside.bin', null);
    await expectMimicAsync(loadModel(file), 'E_ONNX', "'W'", 'sub/../../outside.bin');
    await symlink(join(root, 'outside.bin'), join(dir, 'link.bin'));
    await externalModel(dir, 'link.bin', null);
    await expectMimicAsync(loadModel(file), 'E_ONNX', "'W'", 'link.bin', 'outside');
    // missing file, truncated file, wrong length
    await externalModel(dir, 'missing.bin', null);
    await expectMimicAsync(loadModel(file), 'E_FILE', "'W'", 'missing.bin');
    await externalModel(dir, 'short.bin', join(dir, 'short.bin'), { truncate: 5 });
    await expectMimicAsync(loadModel(file), 'E_FORMAT', "'W'", 'short.bin', 'truncated');
    const m = await (async () => { await externalModel(dir, 'weights.bin', join(dir, 'weights.bin')); return onnx.ModelProto.decode(await (await import('node:fs/promises')).readFile(file)); })();
    m.graph!.initializer![0].externalData![2].value = '12';
    await saveModel(m, file);
    await expectMimicAsync(loadModel(file), 'E_ONNX', "'W'", 'length 12');
  });
});
