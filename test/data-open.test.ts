// openDataset: format detection by extension, content (IDX magic, NPY magic, ZIP) and folder contents, the
// explicit format override, splits and explicit file lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, gzipSync, crc32 } from 'node:zlib';
import { zipSync } from 'fflate';
import { MimicError, type ErrorCode } from '../lib/errors.ts';
import { detectFile, openDataset } from '../lib/data/open.ts';

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MimicError, `expected a MimicError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

function idx(type: number, dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, type, dims.length]);
  dims.forEach((d, k) => new DataView(out.buffer).setUint32(4 + 4 * k, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
function npy(descr: string, shape: number[], data: Uint8Array): Uint8Array {
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  h += ' '.repeat(63 - ((10 + h.length) % 64)) + '\n';
  const out = new Uint8Array(10 + h.length + data.length);
  out.set([0x93, 78, 85, 77, 80, 89, 1, 0]);
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(Buffer.from(h, 'latin1'), 10);
  out.set(data, 10 + h.length);
  return out;
}
function grayPng(w: number, h: number, v: number): Buffer {
  const chunk = (type: string, data: Uint8Array) => {
    const b = Buffer.alloc(12 + data.length);
    b.writeUInt32BE(data.length, 0);
    b.write(type, 4, 'latin1');
    b.set(data, 8);
    b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
    return b;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const raw = Buffer.alloc(h * (w + 1), v);
  for (let y = 0; y < h; ++y) raw[y * (w + 1)] = 0;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}
const cifar = (labels: number[], per = 1) => {
  const b = new Uint8Array(labels.length * (per + 3072));
  labels.forEach((l, i) => {
    b[i * (per + 3072) + per - 1] = l;
    b.fill(l + 1, i * (per + 3072) + per, (i + 1) * (per + 3072));
  });
  return b;
};

test('files: extension first (.npz, .npy, .bin by record size), then content (gzip, IDX / NPY / ZIP magic)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mimic-open-'));
  const img = idx(8, [2, 2, 2], Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  await writeFile(join(dir, 'mnist-images-idx3-ubyte.gz'), gzipSync(img));
  await writeFile(join(dir, 'mnist-labels-idx1-ubyte.gz'), gzipSync(idx(8, [2], Uint8Array.of(4, 2))));
  await writeFile(join(dir, 'noext'), img);
  await writeFile(join(dir, 'arr.data'), npy('|u1', [1, 2, 2], Uint8Array.of(1, 2, 3, 4)));
  await writeFile(join(dir, 'zip.data'), zipSync({ 'x.npy': npy('|u1', [1, 2, 2], Uint8Array.of(1, 2, 3, 4)) }));
  await writeFile(join(dir, 'c10.bin'), cifar([1, 2]));
  await writeFile(join(dir, 'c100.bin'), cifar([5, 6], 2));
  await writeFile(join(dir, 'odd.bin'), new Uint8Array(3075));
  await writeFile(join(dir, 'junk.dat'), Buffer.from('hello'));
  assert.equal(await detectFile(join(dir, 'mnist-images-idx3-ubyte.gz')), 'idx');
  assert.equal(await detectFile(join(dir, 'noext')), 'idx');
  assert.equal(await detectFile(join(dir, 'arr.data')), 'npy');
  assert.equal(await detectFile(join(dir, 'zip.data')), 'npz');
  assert.equal(await detectFile(join(dir, 'c10.bin')), 'cifar10');
  assert.equal(await detectFile(join(dir, 'c100.bin')), 'cifar100');
  await rejectsWith(detectFile(join(dir, 'odd.bin')), 'E_FORMAT', join(dir, 'odd.bin'), 'neither');
  await rejectsWith(detectFile(join(dir, 'junk.dat')), 'E_FORMAT', join(dir, 'junk.dat'), 'cannot tell', 'pass format');

  // The labels sibling of an IDX image file is found by name; labels: false drops it.
  const m = await openDataset(join(dir, 'mnist-images-idx3-ubyte.gz'));
  assert.deepEqual(Array.from(m.labels!), [4, 2]);
  assert.equal((await openDataset(join(dir, 'mnist-images-idx3-ubyte.gz'), { labels: false })).labels, undefined);
  assert.equal((await openDataset(join(dir, 'noext'))).count, 2);
  assert.equal((await openDataset({ path: join(dir, 'zip.data') })).count, 1);
  const c100 = await openDataset(join(dir, 'c100.bin'), { cifarLabel: 'coarse' });
  assert.deepEqual(Array.from(c100.labels!), [0, 0]);
  assert.deepEqual(Array.from((await openDataset(join(dir, 'c100.bin'))).labels!), [5, 6]);
  // The override wins over detection (here: reading an IDX file as NPY fails as NPY would).
  await rejectsWith(openDataset(join(dir, 'noext'), { format: 'npy' }), 'E_FORMAT', join(dir, 'noext'), 'NUMPY');
  await rejectsWith(openDataset(join(dir, 'noext'), { format: 'bogus' as never }), 'E_INVALID_ARGUMENT', 'bogus');
  await rejectsWith(openDataset(join(dir, 'does-not-exist')), 'E_FILE', join(dir, 'does-not-exist'));
});

test('folders: IDX (train / t10k), CIFAR-10 batches in numeric order, CIFAR-100, nested standard folders, PNG, files', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mimic-open-dirs-'));
  const mn = join(root, 'mnist');
  await mkdir(mn);
  await writeFile(join(mn, 'train-images-idx3-ubyte.gz'), gzipSync(idx(8, [3, 1, 1], Uint8Array.of(1, 2, 3))));
  await writeFile(join(mn, 'train-labels-idx1-ubyte.gz'), gzipSync(idx(8, [3], Uint8Array.of(7, 8, 9))));
  await writeFile(join(mn, 't10k-images-idx3-ubyte'), idx(8, [1, 1, 1], Uint8Array.of(4)));
  await writeFile(join(mn, 't10k-labels-idx1-ubyte'), idx(8, [1], Uint8Array.of(6)));
  const tr = await openDataset(mn);
  assert.deepEqual([tr.count, Array.from(tr.labels!)], [3, [7, 8, 9]]);
  assert.equal(tr.name, 'mnist train');
  const te = await openDataset(mn, { split: 'test' });
  assert.deepEqual([te.count, Array.from(te.pixels), Array.from(te.labels!)], [1, [4], [6]]);
  await rejectsWith(openDataset(mn, { split: 'val' }), 'E_FILE', mn, 'val-images-idx3-ubyte');
  // a single file holds one split: naming another is refused, not ignored; a default split (the CLI's) is ignored
  const one = join(mn, 't10k-images-idx3-ubyte');
  await rejectsWith(openDataset(one, { split: 'train' }), 'E_INVALID_ARGUMENT', "split 'train' picks a split of a folder or an .npz", one);
  assert.equal((await openDataset(one, { defaultSplit: 'train' })).count, 1);
  const teDefault = await openDataset(mn, { defaultSplit: 'test' });
  assert.deepEqual(Array.from(teDefault.pixels), [4]);

  const c10 = join(root, 'dl', 'cifar-10-batches-bin');
  await mkdir(c10, { recursive: true });
  for (const k of [1, 2, 10]) await writeFile(join(c10, `data_batch_${k}.bin`), cifar([k % 10]));
  await writeFile(join(c10, 'test_batch.bin'), cifar([5, 5]));
  const ctr = await openDataset(join(root, 'dl')); // finds the standard subfolder
  assert.deepEqual(Array.from(ctr.labels!), [1, 2, 0]); // 1, 2, 10: numeric, not byte, order
  assert.equal((await openDataset(c10, { split: 'test' })).count, 2);
  const picked = await openDataset(c10, { files: ['data_batch_2.bin', 'test_batch.bin'] });
  assert.deepEqual(Array.from(picked.labels!), [2, 5, 5]);

  const c100 = join(root, 'cifar-100-binary');
  await mkdir(c100);
  await writeFile(join(c100, 'train.bin'), cifar([42, 99], 2));
  await writeFile(join(c100, 'test.bin'), cifar([1], 2));
  assert.deepEqual(Array.from((await openDataset(c100)).labels!), [42, 99]);
  assert.equal((await openDataset(c100, { split: 'test' })).count, 1);

  const pngs = join(root, 'pngs');
  await mkdir(join(pngs, 'test'), { recursive: true });
  await writeFile(join(pngs, 'x1.png'), grayPng(2, 2, 10));
  await writeFile(join(pngs, 'x2.png'), grayPng(2, 2, 20));
  await writeFile(join(pngs, 'my-labels.txt'), '3\n4\n');
  await writeFile(join(pngs, 'test', 't.png'), grayPng(2, 2, 30));
  const p = await openDataset(pngs, { labels: 'my-labels.txt' }); // relative to the folder
  assert.deepEqual([p.count, p.channels, Array.from(p.labels!)], [2, 1, [3, 4]]);
  assert.deepEqual(Array.from((await openDataset(pngs, { split: 'test' })).pixels), [30, 30, 30, 30]);

  const npyDir = join(root, 'arrays');
  await mkdir(npyDir);
  await writeFile(join(npyDir, 'x.npy'), npy('|u1', [2, 1, 1], Uint8Array.of(5, 6)));
  await writeFile(join(npyDir, 'y.npy'), npy('|u1', [2], Uint8Array.of(1, 0)));
  const a = await openDataset(npyDir, { files: ['x.npy', 'y.npy'] });
  assert.deepEqual([Array.from(a.pixels), Array.from(a.labels!)], [[5, 6], [1, 0]]);
  await rejectsWith(openDataset(npyDir), 'E_FORMAT', npyDir, 'cannot tell', 'x.npy');
  await rejectsWith(openDataset(npyDir, { files: [] }), 'E_INVALID_ARGUMENT', 'files');
  await rejectsWith(openDataset(join(npyDir, 'x.npy'), { files: ['y.npy'] }), 'E_INVALID_ARGUMENT', 'applies to a folder');
  await rejectsWith(openDataset(npyDir, { files: ['gone.bin'] }), 'E_FILE', join(npyDir, 'gone.bin'));
  await copyFile(join(npyDir, 'x.npy'), join(root, 'single.png'));
  await rejectsWith(openDataset(join(root, 'single.png')), 'E_FORMAT', 'open its folder');
});
