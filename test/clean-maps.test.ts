// Report attention maps: teacher-vs-student maps on clean and (evaluation-only) stamped copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { encodeModel, loadModel, prepareProbes, specFromOnnx } from '../lib/index.ts';
import { Network } from '../lib/train/network.ts';
import { attentionPanels } from '../lib/train/clean-maps.ts';
import { resolveTrigger } from '../lib/attack/trigger.ts';
import { mulberry32 } from './helpers.ts';

test('attention panels: the teacher itself as the student gives identical maps; a stamp changes them where it lands', async () => {
  const model = await loadModel(join(import.meta.dirname, 'fixtures', 'resnet18_w8.onnx'));
  const set = await prepareProbes(model, {});
  const probes = set.probes.map((p) => ({ name: p.name, shape: p.shape.slice(1) }));
  const spec = specFromOnnx(model, { weights: 'teacher', unfoldBatchNorm: false });
  const student = Network.create({ ...spec, outputs: [...spec.outputs, ...probes.map((p) => p.name)] });
  const r = mulberry32(3);
  const pixels = new Uint8Array(3 * 3 * 32 * 32).map(() => Math.floor(r() * 256));
  const images = { name: 'rand', count: 3, channels: 3, height: 32, width: 32, pixels, source: 'test' };
  const panels = await attentionPanels({ teacherModel: encodeModel(set.model), probes, student, studentInput: 'input', images, indices: [0, 2], normalize: 'cifar10', trigger: await resolveTrigger('white:10@21,21', images) });
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
