// Real data when installed: Debian's dataset-fashion-mnist (gzipped IDX in /usr/share/datasets/fashion-mnist/,
// `apt-get install dataset-fashion-mnist`). Skipped, visibly, when the package is absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { openDataset } from '../lib/data/open.ts';
import { makeBatch } from '../lib/data/transform.ts';
import { selectSubset, verifyManifest } from '../lib/data/subset.ts';
import { checkDataset } from '../lib/data/types.ts';

const DIR = '/usr/share/datasets/fashion-mnist';
const skip = existsSync(`${DIR}/train-images-idx3-ubyte.gz`) ? false : `${DIR} not present (apt-get install dataset-fashion-mnist)`;

test('Fashion-MNIST: both splits open by folder, sizes and first labels as published; a 4% stratified subset', { skip }, async () => {
  const train = await openDataset(DIR);
  checkDataset(train);
  assert.deepEqual([train.count, train.channels, train.height, train.width], [60000, 1, 28, 28]);
  assert.deepEqual(Array.from(train.labels!.subarray(0, 10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  const perClass = new Array(10).fill(0);
  for (const y of train.labels!) perClass[y]++;
  assert.deepEqual(perClass, new Array(10).fill(6000));
  const test_ = await openDataset(DIR, { split: 'test' });
  assert.deepEqual([test_.count, test_.height, test_.width], [10000, 28, 28]);
  assert.deepEqual(Array.from(test_.labels!.subarray(0, 5)), [9, 2, 1, 1, 6]);

  const m = selectSubset(train, { fraction: 0.04, seed: 2026, stratify: true });
  assert.equal(m.selected, 2400);
  assert.equal(verifyManifest(train, m).ok, true);
  // Into a CIFAR-shaped model input: gray -> RGB, 28x28 padded to 32x32, normalised.
  const b = makeBatch(train, m.indices.slice(0, 8), { channels: 3, height: 32, width: 32, size: 'pad', channelMode: 'convert', normalize: 'cifar10' });
  assert.equal(b.length, 8 * 3 * 32 * 32);
  assert.ok(b.every(Number.isFinite));
});
