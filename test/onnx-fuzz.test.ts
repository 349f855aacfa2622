// Fuzzing the loader: mutants of valid model bytes (truncations, byte flips, bogus dims in initializers and
// value infos) either load or throw a MimicError, never another exception; a subset of the mutants that load
// go through inferShapes (onnxruntime), which either works or throws a MimicError. Replay with MIMIC_TEST_SEED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MimicError } from '../lib/errors.ts';
import { ModelBuilder, buildConvEncoder } from '../lib/onnx/build.ts';
import { decodeModel, encodeModel, onnx } from '../lib/onnx/model.ts';
import { inferShapes, autoProbes } from '../lib/onnx/probes.ts';
import { freshSeed, mulberry32 } from './helpers.ts';

function bases(): { name: string; bytes: Uint8Array }[] {
  const enc = buildConvEncoder({ seed: 1, imageSize: 6, widths: [2, 3], embedDim: 2 });
  const bn = buildConvEncoder({ seed: 2, imageSize: 4, widths: [2], batchNorm: true, residual: false });
  const b = new ModelBuilder({ seed: 3 });
  const x = b.input('x', ['N', 4]);
  const h = b.relu(b.gemm(x, 4, 3), 'h');
  const r = b.reshape(h, [0, 3, 1]);
  b.output(b.flatten(r, 1, 'y'), ['N', 3]).valueInfo('h', ['N', 3]);
  return [{ name: 'conv encoder', bytes: enc.bytes }, { name: 'bn encoder', bytes: bn.bytes }, { name: 'mlp', bytes: b.bytes() }];
}

const BOGUS = [-1, -2, -7, 0, 1, 3, 2 ** 31 - 1, 2 ** 31, 2 ** 40, 1e15];

test('fuzz: mutated model bytes load or throw MimicError; onnxruntime on loaded mutants too', { timeout: 120_000 }, async () => {
  const seed = freshSeed('onnx-fuzz');
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const models = bases();
  for (const m of models) decodeModel(m.bytes); // the bases are valid
  const counts = { truncate: 0, flip: 0, dims: 0, loaded: 0, rejected: 0, ortRuns: 0, ortOk: 0, ortRejected: 0 };
  const ORT_BUDGET = 200;
  let ortEvery = 0;

  async function check(kind: string, bytes: Uint8Array, base: string, detail: string) {
    let model;
    try {
      model = decodeModel(bytes, { source: 'mutant.onnx' });
    } catch (e) {
      if (!(e instanceof MimicError)) assert.fail(`${kind} of ${base} (${detail}), seed ${seed}: ${String((e as Error)?.stack ?? e)}`);
      assert.ok(['E_FORMAT', 'E_ONNX'].includes(e.code), `${kind} ${detail}: code ${e.code}: ${e.message}`);
      counts.rejected++;
      return;
    }
    counts.loaded++;
    // onnxruntime on a spread-out subset of the mutants that load
    if (counts.ortRuns >= ORT_BUDGET || ortEvery++ % 2 !== 0) return;
    counts.ortRuns++;
    try {
      const shapes = await inferShapes(model, { inputShape: undefined });
      try {
        autoProbes(model, shapes);
      } catch (e) {
        if (!(e instanceof MimicError)) throw e;
      }
      counts.ortOk++;
    } catch (e) {
      if (!(e instanceof MimicError)) assert.fail(`inferShapes on ${kind} of ${base} (${detail}), seed ${seed}: ${String((e as Error)?.stack ?? e)}`);
      counts.ortRejected++;
    }
  }

  // 1) truncation at random points
  for (let i = 0; i < 800; ++i) {
    const m = models[i % models.length];
    const at = int(m.bytes.length);
    counts.truncate++;
    await check('truncation', m.bytes.subarray(0, at), m.name, `at ${at}`);
  }
  // 2) random byte flips (1 to 6 bytes, random values or single bits)
  for (let i = 0; i < 1000; ++i) {
    const m = models[i % models.length];
    const bytes = Uint8Array.from(m.bytes);
    const k = 1 + int(6);
    const where: number[] = [];
    for (let j = 0; j < k; ++j) {
      const p = int(bytes.length);
      where.push(p);
      bytes[p] = rnd() < 0.5 ? bytes[p] ^ (1 << int(8)) : int(256);
    }
    counts.flip++;
    await check('byte flip', bytes, m.name, `bytes ${where.join(',')}`);
  }
  // 3) bogus dims in initializers and value infos (inputs, outputs, value_info)
  for (let i = 0; i < 400; ++i) {
    const m = models[i % models.length];
    const model = onnx.ModelProto.decode(m.bytes);
    const g = model.graph!;
    const bogus = BOGUS[int(BOGUS.length)];
    let detail: string;
    if (rnd() < 0.5) {
      const t = g.initializer![int(g.initializer!.length)];
      const dims = [...(t.dims ?? [])];
      const k = int(dims.length + 1);
      if (k === dims.length) dims.push(bogus); else dims[k] = bogus;
      t.dims = dims;
      detail = `initializer ${t.name} dims [${dims.join(', ')}]`;
    } else {
      const vis = [...g.input!, ...g.output!, ...g.valueInfo!];
      const v = vis[int(vis.length)];
      const dim = v.type!.tensorType!.shape!.dim!;
      const k = int(dim.length);
      dim[k] = rnd() < 0.8 ? { dimValue: bogus } : { dimParam: `sym${int(3)}` };
      detail = `value ${v.name} dim ${k} = ${JSON.stringify(dim[k])}`;
    }
    counts.dims++;
    await check('bogus dims', encodeModel(model), m.name, detail);
  }
  const total = counts.truncate + counts.flip + counts.dims;
  process.stderr.write(`# onnx-fuzz: seed ${seed}: ${JSON.stringify(counts)}\n`);
  assert.ok(total >= 2000);
  assert.ok(counts.loaded > 0 && counts.rejected > 0, 'the mutants should include both loadable and rejected models');
  assert.ok(counts.ortRuns > 50, `onnxruntime ran on only ${counts.ortRuns} mutants`);
});
