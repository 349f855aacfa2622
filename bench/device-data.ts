/**
 * The data a device run of bench/results.ts needs, for machines without the Debian dataset (see device-results.sh):
 * a sparse Fashion-MNIST (every image the clean runs and evaluations touch, zeros elsewhere, same indices, so seeded
 * subsets select the same images) and the teachers made here.
 *   node --import tsx bench/device-data.ts OUT.tar --fractions 0.04,0.01 --seeds 0,1,2 [--files a.onnx,a.eval.json,...]
 * OUT.tar holds fmnist-sparse.tar.xz and teachers.tar: the teachers and any finished result files (evaluations and
 * their .args) to reuse, paths relative to the repository root.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { openDataset } from '../lib/data/open.ts';
import { selectIndices } from '../lib/data/subset.ts';
import { epochOrder } from '../lib/util/rng.ts';

const D = '/usr/share/datasets/fashion-mnist';
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const outTar = resolve(process.argv[2] ?? 'data.tar');
const fractions = arg('fractions', '0.04').split(',').map(Number);
const seeds = arg('seeds', '0,1,2').split(',').map(Number);
const files = arg('files', '').split(',').filter(Boolean);
const root = resolve(import.meta.dirname, '..');

const train = await openDataset(D, { split: 'train' });
const test = await openDataset(D, { split: 'test' });
const keep = new Set<number>();
for (const s of seeds) for (const f of fractions) for (const i of selectIndices(train, { fraction: f, seed: s })) keep.add(i);
for (const s of seeds) for (const i of epochOrder(60000, s ^ 0xc0de, 0).subarray(0, 2400)) keep.add(i); // fine-tuning baseline (sampleImages)
for (const i of selectIndices(train, { count: 20000, seed: 0 })) keep.add(i); // evaluation
const keepTest = new Set(selectIndices(test, { count: 5000, seed: 1 }));

const work = mkdtempSync(join(tmpdir(), 'mimic-devdata-'));
const dir = join(work, 'fmnist-sparse');
mkdirSync(dir);
for (const [name, ks] of [['train-images-idx3-ubyte', keep], ['t10k-images-idx3-ubyte', keepTest]] as const) {
  const b = Buffer.from(gunzipSync(readFileSync(`${D}/${name}.gz`)));
  for (let i = 0; i < (b.length - 16) / 784; ++i) if (!ks.has(i)) b.fill(0, 16 + i * 784, 16 + (i + 1) * 784);
  writeFileSync(join(dir, name), b);
  process.stderr.write(`${name}: ${ks.size} images kept\n`);
}
for (const name of ['train-labels-idx1-ubyte', 't10k-labels-idx1-ubyte']) writeFileSync(join(dir, name), gunzipSync(readFileSync(`${D}/${name}.gz`)));
execFileSync('tar', ['cJf', join(work, 'fmnist-sparse.tar.xz'), '-C', work, 'fmnist-sparse']);
execFileSync('tar', ['cf', join(work, 'teachers.tar'), '-C', root, ...files.map((t) => relative(root, resolve(t)))]);
execFileSync('tar', ['cf', outTar, '-C', work, 'fmnist-sparse.tar.xz', 'teachers.tar']);
process.stderr.write(`${outTar}: sparse Fashion-MNIST + ${files.length} result files\n`);
