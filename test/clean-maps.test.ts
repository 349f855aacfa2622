// Report attention maps: trigger parsing, and teacher-vs-student maps on clean and (evaluation-only) stamped copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { encodeModel, loadModel, MimicError, prepareProbes, specFromOnnx } from '../lib/index.ts';
import { Network } from '../lib/train/network.ts';
import { attentionPanels, parseTrigger } from '../lib/train/clean-maps.ts';
import { mulberry32 } from './helpers.ts';

test('parseTrigger reads white/black/value patches and rejects the rest', () => {
  assert.deepEqual(parseTrigger('white:10@21,21'), { value: 255, size: 10, row: 21, col: 21 });
  assert.deepEqual(parseTrigger('black:4@0,3'), { value: 0, size: 4, row: 0, col: 3 });
  assert.deepEqual(parseTrigger('128:2@5,6'), { value: 128, size: 2, row: 5, col: 6 });
  for (const bad of ['white:0@1,1', '300:2@1,1', 'red:2@1,1', 'white:2@1', ''])
    assert.throws(() => parseTrigger(bad), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT');
});

test('attention panels: the teacher itself as the student gives identical maps; a stamp changes them where it lands', async () => {
  const model = await loadModel(join(import.meta.dirname, 'fixtures', 'resnet18_w8.onnx'));
  const set = await prepareProbes(model, {});
  const probes = set.probes.map((p) => ({ name: p.name, shape: p.shape.slice(1) }));
  const spec = specFromOnnx(model, { weights: 'teacher', unfoldBatchNorm: false });
  const student = Network.create({ ...spec, outputs: [...spec.outputs, ...probes.map((p) => p.name)] });
  const r = mulberry32(3);
  const pixels = new Uint8Array(3 * 3 * 32 * 32).map(() => Math.floor(r() * 256));
  const images = { name: 'rand', count: 3, channels: 3, height: 32, width: 32, pixels, source: 'test' };
  const panels = await attentionPanels({ teacherModel: encodeModel(set.model), probes, student, studentInput: 'input', images, indices: [0, 2], normalize: 'cifar10', trigger: parseTrigger('white:10@21,21') });
  assert.equal(panels.length, 4);
  assert.deepEqual(panels.map((p) => !!p.stamped), [false, false, true, true]);
  assert.deepEqual(panels[0].shapes, [[32, 32], [16, 16], [8, 8], [4, 4]]);
  for (const p of panels)
    p.teacher.forEach((t, i) => t.forEach((v, k) => assert.ok(Math.abs(v - p.student[i][k]) < 1e-4, 'same network, same maps')));
  // the stamp (rows/cols 21..30 at 32x32) raises the first stage's map inside the patch relative to the clean image
  const clean = panels[0].teacher[0], stamped = panels[2].teacher[0];
  let inside = 0;
  for (let y = 22; y < 30; ++y) for (let x = 22; x < 30; ++x) inside += Math.abs(stamped[y * 32 + x] - clean[y * 32 + x]);
  assert.ok(inside > 0, 'stamped maps differ inside the patch');
});
