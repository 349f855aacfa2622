// Dataset readers: IDX (gz and plain), CIFAR-10/100 binary batches, NPY/NPZ, PNG folders. Every file is written
// here byte by byte (independently of the readers), read back exactly, then corrupted: each corrupt header, wrong
// size or missing file must give a typed MimicError whose message names the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';
import { MimicError, type ErrorCode } from '../lib/errors.ts';
import { readIdx, readIdxImages, readIdxLabels } from '../lib/data/idx.ts';
import { readCifar } from '../lib/data/cifar.ts';
import { readNpyImages, readNpzImages } from '../lib/data/npz.ts';
import { readPngFolder } from '../lib/data/png.ts';
import { checkDataset, imageBytes, subsetDataset } from '../lib/data/types.ts';

const FIXTURES = new URL('./fixtures/data/', import.meta.url).pathname;

async function tmp(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `mimic-data-${prefix}-`));
}

/** Asserts a typed rejection whose message contains every given fragment (the file name first). */
async function rejectsWith(p: Promise<unknown> | (() => unknown), code: ErrorCode, ...fragments: string[]): Promise<void> {
  const run = typeof p === 'function' ? async () => p() : () => p;
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof MimicError, `expected a MimicError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

// ---------- IDX ----------

function idx(type: number, dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, type, dims.length]);
  const v = new DataView(out.buffer);
  dims.forEach((d, k) => v.setUint32(4 + 4 * k, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
const pix = (n: number, mul = 13) => Uint8Array.from({ length: n }, (_, i) => (i * mul + 5) % 256);

test('IDX: gzipped and plain image + label files read back exactly', async () => {
  const dir = await tmp('idx');
  const [n, h, w] = [5, 4, 3];
  const images = pix(n * h * w);
  const labels = Uint8Array.of(3, 1, 4, 1, 5);
  await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idx(0x08, [n, h, w], images)));
  await writeFile(join(dir, 'train-labels-idx1-ubyte'), idx(0x08, [n], labels));
  await writeFile(join(dir, 'plain-images'), idx(0x08, [n, h, w], images));
  // int32 big-endian labels are accepted too.
  const i32 = new Uint8Array(n * 4);
  labels.forEach((l, i) => new DataView(i32.buffer).setInt32(4 * i, l * 100, false));
  await writeFile(join(dir, 'labels-i32.gz'), gzipSync(idx(0x0c, [n], i32)));

  for (const f of ['train-images-idx3-ubyte.gz', 'plain-images']) {
    const ds = await readIdx(join(dir, f), { labels: join(dir, 'train-labels-idx1-ubyte') });
    checkDataset(ds);
    assert.deepEqual([ds.count, ds.channels, ds.height, ds.width], [n, 1, h, w]);
    assert.deepEqual(ds.pixels, images);
    assert.deepEqual(Array.from(ds.labels!), Array.from(labels));
    assert.deepEqual(imageBytes(ds, 2), images.subarray(2 * h * w, 3 * h * w));
  }
  assert.deepEqual(Array.from(await readIdxLabels(join(dir, 'labels-i32.gz'))), [300, 100, 400, 100, 500]);
  const noLabels = await readIdxImages(join(dir, 'plain-images'));
  assert.equal(noLabels.labels, undefined);
});

test('IDX: corrupt headers, wrong sizes, bad gzip and missing files are typed errors naming the file', async () => {
  const dir = await tmp('idx-bad');
  const good = idx(0x08, [4, 2, 2], pix(16));
  const cases: [string, Uint8Array | Buffer, ErrorCode, string[]][] = [
    ['short-images-idx3-ubyte.gz', gzipSync(good.subarray(0, good.length - 3)), 'E_FORMAT', ['header says 4 images of 2x2', 'holds 13 bytes']],
    ['long-images', Buffer.concat([good, Buffer.from([1])]), 'E_FORMAT', ['holds 17 bytes']],
    ['magic', Uint8Array.of(1, 0, 8, 3, ...good.subarray(4)), 'E_FORMAT', ['two zero bytes']],
    ['type', Uint8Array.of(0, 0, 0x42, 3, ...good.subarray(4)), 'E_FORMAT', ['data type 0x42']],
    ['float-images', idx(0x0d, [1, 1, 1], new Uint8Array(4)), 'E_FORMAT', ['must be ubyte', 'float32']],
    ['labels-not-images', idx(0x08, [4], new Uint8Array(4)), 'E_FORMAT', ['3 dimensions']],
    ['dims-cut', Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 4), 'E_FORMAT', ['3 dimensions but the file ends after 8 bytes']],
    ['tiny', Uint8Array.of(0, 0), 'E_FORMAT', ['too short']],
    ['bad.gz', Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7), 'E_FORMAT', ['does not decompress']],
  ];
  for (const [name, bytes, code, frags] of cases) {
    await writeFile(join(dir, name), bytes);
    await rejectsWith(readIdxImages(join(dir, name)), code, join(dir, name), ...frags);
  }
  await rejectsWith(readIdxImages(join(dir, 'nope.gz')), 'E_FILE', join(dir, 'nope.gz'), 'no such file');
  await writeFile(join(dir, 'good'), good);
  await writeFile(join(dir, 'labels3'), idx(0x08, [3], Uint8Array.of(1, 2, 3)));
  await writeFile(join(dir, 'labels-short'), idx(0x08, [5], Uint8Array.of(1, 2, 3)));
  await writeFile(join(dir, 'labels-2d'), idx(0x08, [2, 2], Uint8Array.of(1, 2, 3, 4)));
  await rejectsWith(readIdx(join(dir, 'good'), { labels: join(dir, 'labels3') }), 'E_SHAPE_MISMATCH', join(dir, 'labels3'), '3 labels', '4 images');
  await rejectsWith(readIdxLabels(join(dir, 'labels-short')), 'E_FORMAT', join(dir, 'labels-short'), 'header says 5 labels');
  await rejectsWith(readIdxLabels(join(dir, 'labels-2d')), 'E_FORMAT', join(dir, 'labels-2d'), '1 dimension');
  await rejectsWith(readIdx(join(dir, 'good'), { labels: join(dir, 'missing') }), 'E_FILE', join(dir, 'missing'));
});

// ---------- CIFAR ----------

function cifarRecords(labels: number[][], seed: number): { bytes: Uint8Array; pixels: Uint8Array } {
  const per = labels[0].length + 3072;
  const bytes = new Uint8Array(labels.length * per);
  const pixels = new Uint8Array(labels.length * 3072);
  labels.forEach((ls, i) => {
    bytes.set(ls, i * per);
    const p = pix(3072, 31 + seed + i);
    bytes.set(p, i * per + ls.length);
    pixels.set(p, i * 3072);
  });
  return { bytes, pixels };
}

test('CIFAR-10: one and several batch files read back exactly (CHW as stored); CIFAR-100 fine and coarse', async () => {
  const dir = await tmp('cifar');
  const a = cifarRecords([[3], [9], [0]], 0);
  const b = cifarRecords([[7], [1]], 10);
  await writeFile(join(dir, 'data_batch_1.bin'), a.bytes);
  await writeFile(join(dir, 'data_batch_2.bin'), b.bytes);
  const one = await readCifar(join(dir, 'data_batch_1.bin'));
  checkDataset(one);
  assert.deepEqual([one.count, one.channels, one.height, one.width], [3, 3, 32, 32]);
  assert.deepEqual(one.pixels, a.pixels);
  assert.deepEqual(Array.from(one.labels!), [3, 9, 0]);
  // Red plane then green then blue: pixel (row 1, col 2) of image 1's green channel is byte 1 + 1024 + 32 + 2.
  assert.equal(one.pixels[3072 + 1024 + 32 + 2], a.bytes[3073 + 1 + 1024 + 32 + 2]);
  const both = await readCifar([join(dir, 'data_batch_1.bin'), join(dir, 'data_batch_2.bin')]);
  assert.equal(both.count, 5);
  assert.deepEqual(Array.from(both.labels!), [3, 9, 0, 7, 1]);
  assert.deepEqual(both.pixels.subarray(3 * 3072), b.pixels);

  const c = cifarRecords([[19, 99], [4, 42]], 3);
  await writeFile(join(dir, 'train.bin'), c.bytes);
  const fine = await readCifar(join(dir, 'train.bin'), { variant: 'cifar100' });
  const coarse = await readCifar(join(dir, 'train.bin'), { variant: 'cifar100', label: 'coarse' });
  assert.deepEqual(Array.from(fine.labels!), [99, 42]);
  assert.deepEqual(Array.from(coarse.labels!), [19, 4]);
  assert.deepEqual(fine.pixels, c.pixels);
});

test('CIFAR: wrong sizes, bad labels, empty and missing files are typed errors naming the file', async () => {
  const dir = await tmp('cifar-bad');
  const a = cifarRecords([[3], [4]], 0);
  await writeFile(join(dir, 'cut.bin'), a.bytes.subarray(0, 3073 + 100));
  await rejectsWith(readCifar(join(dir, 'cut.bin')), 'E_FORMAT', join(dir, 'cut.bin'), '3173 bytes', '3073-byte CIFAR-10 records', '1 records and 100 bytes over');
  const bigLabel = cifarRecords([[3], [12]], 0);
  await writeFile(join(dir, 'label.bin'), bigLabel.bytes);
  await rejectsWith(readCifar(join(dir, 'label.bin')), 'E_FORMAT', join(dir, 'label.bin'), 'record 1 has label 12');
  const c100 = cifarRecords([[1, 2], [3, 4]], 0);
  await writeFile(join(dir, 'c100.bin'), c100.bytes);
  await rejectsWith(readCifar(join(dir, 'c100.bin')), 'E_FORMAT', join(dir, 'c100.bin'), 'is it CIFAR-100?');
  const badFine = cifarRecords([[1, 100]], 0);
  await writeFile(join(dir, 'fine.bin'), badFine.bytes);
  await rejectsWith(readCifar(join(dir, 'fine.bin'), { variant: 'cifar100' }), 'E_FORMAT', join(dir, 'fine.bin'), 'fine label 100');
  await writeFile(join(dir, 'empty.bin'), new Uint8Array(0));
  await rejectsWith(readCifar(join(dir, 'empty.bin')), 'E_FORMAT', join(dir, 'empty.bin'), 'empty');
  await rejectsWith(readCifar([join(dir, 'label.bin'), join(dir, 'gone.bin')]), 'E_FILE', join(dir, 'gone.bin'));
  await rejectsWith(readCifar(join(dir, 'c100.bin'), { variant: 'cifar10', label: 'coarse' }), 'E_INVALID_ARGUMENT', 'CIFAR-100 only');
  await rejectsWith(readCifar([]), 'E_INVALID_ARGUMENT', 'no files');
});

// ---------- NPY / NPZ ----------

/** A .npy file, written from scratch (not with lib/io/npy.ts). */
function npy(descr: string, shape: number[], data: ArrayBufferView): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  h += ' '.repeat(63 - ((10 + h.length) % 64)) + '\n';
  const out = new Uint8Array(10 + h.length + data.byteLength);
  out.set([0x93, 78, 85, 77, 80, 89, 1, 0]);
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(Buffer.from(h, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + h.length);
  return out;
}

/** NHWC uint8 -> the CHW-per-image bytes the reader must return. */
function nhwcToChw(x: Uint8Array, n: number, h: number, w: number, c: number): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < n; ++i) for (let y = 0; y < h; ++y) for (let xx = 0; xx < w; ++xx) for (let ch = 0; ch < c; ++ch)
    out[i * c * h * w + ch * h * w + y * w + xx] = x[((i * h + y) * w + xx) * c + ch];
  return out;
}

test('NPY/NPZ: uint8 NHWC and float32 NCHW (written here) read back exactly; labels picked by default names', async () => {
  const dir = await tmp('npz');
  const [n, h, w, c] = [3, 2, 4, 3];
  const x = pix(n * h * w * c, 17);
  const y = BigInt64Array.from([2n, 0n, 5n]);
  await writeFile(join(dir, 'u8.npz'), zipSync({ 'x.npy': npy('|u1', [n, h, w, c], x), 'y.npy': npy('<i8', [n], y) }));
  const ds = await readNpzImages(join(dir, 'u8.npz'));
  checkDataset(ds);
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width], [n, c, h, w]);
  assert.deepEqual(ds.pixels, nhwcToChw(x, n, h, w, c));
  assert.deepEqual(Array.from(ds.labels!), [2, 0, 5]);

  // float32 NCHW in [0, 1]: round(v * 255); in [0, 255]: round(v); the rule is explicit and documented.
  const want = pix(n * c * h * w, 29);
  const unit = Float32Array.from(want, (v) => v / 255);
  const byte = Float32Array.from(want, (v, i) => v + (i % 3 === 0 ? 0.4 : i % 3 === 1 ? -0.4 : 0));
  byte[0] = 200.5; // rounds half up
  const byteWant = Uint8Array.from(want);
  byteWant[0] = 201;
  await writeFile(
    join(dir, 'f32.npz'),
    zipSync({
      'images.npy': npy('<f4', [n, c, h, w], unit),
      'raw.npy': npy('<f4', [n, c, h, w], byte),
      'labels.npy': npy('<i4', [n, 1], Int32Array.of(7, 8, 9)),
    }, { level: 6 }),
  );
  const f = await readNpzImages(join(dir, 'f32.npz'));
  assert.deepEqual([f.channels, f.height, f.width], [c, h, w]);
  assert.deepEqual(f.pixels, want);
  assert.deepEqual(Array.from(f.labels!), [7, 8, 9]);
  const r = await readNpzImages(join(dir, 'f32.npz'), { images: 'raw', labels: false });
  assert.deepEqual(r.pixels, byteWant);
  assert.equal(r.labels, undefined);
  // 'unit' forced on [0, 255] data is an error, not a silent clip.
  await rejectsWith(readNpzImages(join(dir, 'f32.npz'), { images: 'raw', floatRange: 'unit' }), 'E_FORMAT', join(dir, 'f32.npz'), 'outside [0, 1]');

  // Single .npy images + .npy labels; gray N x H x W.
  await writeFile(join(dir, 'gray.npy'), npy('|u1', [2, 3, 3], pix(18)));
  await writeFile(join(dir, 'gray-y.npy'), npy('|u1', [2], Uint8Array.of(1, 0)));
  const g = await readNpyImages(join(dir, 'gray.npy'), { labels: join(dir, 'gray-y.npy') });
  assert.deepEqual([g.count, g.channels, g.height, g.width], [2, 1, 3, 3]);
  assert.deepEqual(g.pixels, pix(18));
  assert.deepEqual(Array.from(g.labels!), [1, 0]);

  // Splits: x_test / y_test chosen with split 'test', x_train without a split.
  await writeFile(join(dir, 'keras.npz'), zipSync({
    'x_train.npy': npy('|u1', [2, 2, 2], pix(8)), 'y_train.npy': npy('|u1', [2], Uint8Array.of(1, 2)),
    'x_test.npy': npy('|u1', [1, 2, 2], pix(4, 3)), 'y_test.npy': npy('|u1', [1], Uint8Array.of(9)),
  }));
  assert.deepEqual(Array.from((await readNpzImages(join(dir, 'keras.npz'), { split: 'test' })).labels!), [9]);
  assert.deepEqual(Array.from((await readNpzImages(join(dir, 'keras.npz'))).labels!), [1, 2]);
});

test('NPZ written by NumPy (savez_compressed, savez; zip64 headers) reads back exactly', async () => {
  // test/fixtures/data was made with NumPy 2.4:
  //   x = (np.arange(120) * 7 % 256).astype(np.uint8).reshape(2, 5, 4, 3); np.savez_compressed(..., x=x, y=np.array([3, 7]))
  //   f = (np.arange(24) * 11 % 256).astype(np.float32).reshape(2, 3, 2, 2) / 255
  //   np.savez(..., images=f, labels=np.array([1, 0], dtype=np.int32))
  const a = await readNpzImages(join(FIXTURES, 'numpy-u8-nhwc.npz'));
  const x = Uint8Array.from({ length: 120 }, (_, i) => (i * 7) % 256);
  assert.deepEqual([a.count, a.channels, a.height, a.width], [2, 3, 5, 4]);
  assert.deepEqual(a.pixels, nhwcToChw(x, 2, 5, 4, 3));
  assert.deepEqual(Array.from(a.labels!), [3, 7]);
  const b = await readNpzImages(join(FIXTURES, 'numpy-f32-nchw.npz'));
  assert.deepEqual([b.count, b.channels, b.height, b.width], [2, 3, 2, 2]);
  assert.deepEqual(b.pixels, Uint8Array.from({ length: 24 }, (_, i) => (i * 11) % 256));
  assert.deepEqual(Array.from(b.labels!), [1, 0]);
});

test('NPY/NPZ: bad layouts, dtypes, ranges, shapes, names and archives are typed errors naming the file', async () => {
  const dir = await tmp('npz-bad');
  const put = async (name: string, arrays: Record<string, Uint8Array>) => {
    await writeFile(join(dir, name), zipSync(arrays));
    return join(dir, name);
  };
  const amb = await put('amb.npz', { 'x.npy': npy('|u1', [1, 3, 3, 3], pix(27)) });
  await rejectsWith(readNpzImages(amb), 'E_INVALID_ARGUMENT', amb, "pass layout: 'NHWC' or 'NCHW'");
  const nhwc = await readNpzImages(amb, { layout: 'NHWC' });
  const nchw = await readNpzImages(amb, { layout: 'NCHW' });
  assert.deepEqual(nhwc.pixels, nhwcToChw(pix(27), 1, 3, 3, 3));
  assert.deepEqual(nchw.pixels, pix(27));
  const noC = await put('noc.npz', { 'x.npy': npy('|u1', [1, 5, 5, 5], pix(125)) });
  await rejectsWith(readNpzImages(noC), 'E_SHAPE_MISMATCH', noC, 'no channel dimension');
  const twoD = await put('2d.npz', { 'x.npy': npy('|u1', [4, 4], pix(16)) });
  await rejectsWith(readNpzImages(twoD), 'E_SHAPE_MISMATCH', twoD, 'shape (4, 4)');
  const i32 = await put('i32.npz', { 'x.npy': npy('<i4', [1, 2, 2], new Int32Array(4)) });
  await rejectsWith(readNpzImages(i32), 'E_DTYPE', i32, 'int32');
  const neg = await put('neg.npz', { 'x.npy': npy('<f4', [1, 2, 2], Float32Array.of(-0.6, 0.1, 2.1, 0.3)) });
  await rejectsWith(readNpzImages(neg), 'E_FORMAT', neg, 'span [-0.6', 'normalised data');
  const big = await put('big.npz', { 'x.npy': npy('<f4', [1, 2, 2], Float32Array.of(0, 300, 2, 3)) });
  await rejectsWith(readNpzImages(big), 'E_FORMAT', big, 'outside [0, 255]');
  const nan = await put('nan.npz', { 'x.npy': npy('<f4', [1, 2, 2], Float32Array.of(0, NaN, 0, 0)) });
  await rejectsWith(readNpzImages(nan), 'E_NON_FINITE', nan, 'element 1');
  const lblN = await put('lbln.npz', { 'x.npy': npy('|u1', [2, 2, 2], pix(8)), 'y.npy': npy('|u1', [3], pix(3)) });
  await rejectsWith(readNpzImages(lblN), 'E_SHAPE_MISMATCH', lblN, '2 images but 3 labels');
  const lblF = await put('lblf.npz', { 'x.npy': npy('|u1', [2, 2, 2], pix(8)), 'y.npy': npy('<f4', [2], new Float32Array(2)) });
  await rejectsWith(readNpzImages(lblF), 'E_DTYPE', lblF, 'labels must be an integer array');
  const none = await put('none.npz', { 'weights.npy': npy('|u1', [2, 2, 2], pix(8)) });
  await rejectsWith(readNpzImages(none), 'E_FORMAT', none, 'no image array found', 'it holds: weights');
  assert.equal((await readNpzImages(none, { images: 'weights' })).count, 2);
  await rejectsWith(readNpzImages(none, { images: 'pics' }), 'E_INVALID_ARGUMENT', none, "no array 'pics'");
  await rejectsWith(readNpzImages(none, { images: 'weights', labels: 'y' }), 'E_INVALID_ARGUMENT', none, "no array 'y'");
  const empty = await put('empty.npz', { 'readme.txt': new Uint8Array(3) });
  await rejectsWith(readNpzImages(empty), 'E_FORMAT', empty, 'no .npy arrays');
  const badNpy = await put('badnpy.npz', { 'x.npy': Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) });
  await rejectsWith(readNpzImages(badNpy), 'E_FORMAT', `${badNpy}:x.npy`, 'NUMPY magic');
  const good = zipSync({ 'x.npy': npy('|u1', [2, 2, 2], pix(8)) });
  await writeFile(join(dir, 'cut.npz'), good.subarray(0, good.length - 30));
  await rejectsWith(readNpzImages(join(dir, 'cut.npz')), 'E_FORMAT', join(dir, 'cut.npz'), 'corrupt');
  await writeFile(join(dir, 'notzip.npz'), Buffer.from('hello world'));
  await rejectsWith(readNpzImages(join(dir, 'notzip.npz')), 'E_FORMAT', join(dir, 'notzip.npz'), 'PK');
  await writeFile(join(dir, 'trunc.npy'), npy('|u1', [2, 2, 2], pix(8)).subarray(0, 70));
  await rejectsWith(readNpyImages(join(dir, 'trunc.npy')), 'E_FORMAT', join(dir, 'trunc.npy'), 'truncated');
  await rejectsWith(readNpyImages(join(dir, 'absent.npy')), 'E_FILE', join(dir, 'absent.npy'));
  await rejectsWith(readNpzImages(join(dir, 'absent.npz')), 'E_FILE', join(dir, 'absent.npz'));
});

// ---------- PNG ----------

/** A PNG written from scratch (filter 0 rows): colour type 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
function png(width: number, height: number, colorType: number, samples: number[], bitDepth = 8, palette?: number[]): Buffer {
  const chunk = (type: string, data: Uint8Array) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colorType, 0, 0, 0], 8);
  const per = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
  const bytesPer = bitDepth / 8;
  const raw = Buffer.alloc(height * (1 + width * per * bytesPer));
  let at = 0, s = 0;
  for (let y = 0; y < height; ++y) {
    raw[at++] = 0;
    for (let k = 0; k < width * per; ++k, ++s) {
      if (bytesPer === 2) raw.writeUInt16BE(samples[s], at);
      else raw[at] = samples[s];
      at += bytesPer;
    }
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    ...(palette ? [chunk('PLTE', Uint8Array.from(palette))] : []),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

test('PNG folder: RGB, RGBA, palette and gray images read back exactly in name order; labels CSV and per line', async () => {
  const dir = await tmp('png');
  const [w, h] = [3, 2];
  const rgb = Array.from({ length: w * h * 3 }, (_, i) => (i * 19) % 256);
  const rgba = Array.from({ length: w * h * 4 }, (_, i) => (i * 23) % 256);
  // Palette image: index p -> colour (10p, 20p, 30p).
  const idxs = [0, 1, 2, 3, 1, 0];
  const palette = [0, 1, 2, 3].flatMap((p) => [10 * p, 20 * p, 30 * p]);
  await writeFile(join(dir, 'b.png'), png(w, h, 6, rgba));
  await writeFile(join(dir, 'a.png'), png(w, h, 2, rgb));
  await writeFile(join(dir, 'c.PNG'), png(w, h, 3, idxs, 8, palette));
  await writeFile(join(dir, 'notes.txt'), 'not an image');
  await writeFile(join(dir, 'labels.csv'), 'filename,label\nc.PNG,2\na.png,0\n\nb.png,1\n');
  const ds = await readPngFolder(dir);
  checkDataset(ds);
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width], [3, 3, h, w]);
  const hw = w * h;
  const chw = (interleaved: number[], per: number) =>
    Array.from({ length: 3 * hw }, (_, k) => interleaved[(k % hw) * per + Math.floor(k / hw)]);
  // 'a.png' < 'b.png' < 'c.PNG' in byte order.
  assert.deepEqual(Array.from(imageBytes(ds, 0)), chw(rgb, 3));
  assert.deepEqual(Array.from(imageBytes(ds, 1)), chw(rgba, 4)); // alpha dropped
  assert.deepEqual(Array.from(imageBytes(ds, 2)), chw(idxs.flatMap((p) => palette.slice(3 * p, 3 * p + 3)), 3));
  assert.deepEqual(Array.from(ds.labels!), [0, 1, 2]);

  // Gray (8-bit, 16-bit, gray+alpha): one channel; one label per line in name order (B.png < a.png in byte order).
  const gdir = await tmp('png-gray');
  const g = [0, 50, 100, 150, 200, 255];
  await writeFile(join(gdir, 'a.png'), png(w, h, 0, g));
  await writeFile(join(gdir, 'B.png'), png(w, h, 0, g.map((v) => v * 257), 16));
  await writeFile(join(gdir, 'c.png'), png(w, h, 4, g.flatMap((v) => [255 - v, 7])));
  await writeFile(join(gdir, 'labels.txt'), '5\n6\n7\n');
  const gd = await readPngFolder(gdir);
  assert.deepEqual([gd.count, gd.channels], [3, 1]);
  assert.deepEqual(Array.from(gd.pixels), [...g, ...g, ...g.map((v) => 255 - v)]);
  assert.deepEqual(Array.from(gd.labels!), [5, 6, 7]);
  assert.equal((await readPngFolder(gdir, { labels: false })).labels, undefined);
  // Gray read as 3 channels replicates.
  const g3 = await readPngFolder(gdir, { channels: 3 });
  assert.deepEqual(Array.from(imageBytes(g3, 1)), [...g, ...g, ...g]);
  // Mixed folder -> 3 channels; channels: 1 refuses the colour image by name.
  await writeFile(join(gdir, 'd.png'), png(w, h, 2, rgb));
  await writeFile(join(gdir, 'labels.txt'), '5\n6\n7\n8\n');
  assert.equal((await readPngFolder(gdir)).channels, 3);
  await rejectsWith(readPngFolder(gdir, { channels: 1 }), 'E_FORMAT', join(gdir, 'd.png'), 'colour PNG');
});

test('PNG folder: odd sizes, corrupt files, bad labels and empty folders are typed errors naming the file', async () => {
  const dir = await tmp('png-bad');
  await writeFile(join(dir, 'img0.png'), png(2, 2, 0, [1, 2, 3, 4]));
  await writeFile(join(dir, 'img1.png'), png(2, 2, 0, [1, 2, 3, 4]));
  await writeFile(join(dir, 'img2.png'), png(3, 2, 0, [1, 2, 3, 4, 5, 6]));
  await writeFile(join(dir, 'img3.png'), png(1, 1, 0, [1]));
  await rejectsWith(readPngFolder(dir), 'E_SHAPE_MISMATCH', join(dir, 'img2.png'), 'is 3x2', join(dir, 'img0.png'), 'is 2x2');
  const cdir = await tmp('png-corrupt');
  await writeFile(join(cdir, 'a.png'), png(2, 2, 0, [1, 2, 3, 4]));
  await writeFile(join(cdir, 'b.png'), png(2, 2, 0, [1, 2, 3, 4]).subarray(0, 40));
  await rejectsWith(readPngFolder(cdir), 'E_FORMAT', join(cdir, 'b.png'), 'not a readable PNG (truncated or corrupt image data)');
  await writeFile(join(cdir, 'b.png'), 'not an image at all');
  await rejectsWith(readPngFolder(cdir), 'E_FORMAT', join(cdir, 'b.png'), 'not a readable PNG (no PNG signature: not a PNG file)');
  const edir = await tmp('png-empty');
  await rejectsWith(readPngFolder(edir), 'E_FILE', edir, 'no .png files');
  await rejectsWith(readPngFolder(join(edir, 'missing')), 'E_FILE', join(edir, 'missing'));
  const ldir = await tmp('png-labels');
  await writeFile(join(ldir, 'a.png'), png(1, 1, 0, [9]));
  await writeFile(join(ldir, 'b.png'), png(1, 1, 0, [8]));
  const cases: [string, string, string[]][] = [
    ['few.txt', '1\n', ['holds 1 labels', '2 images']],
    ['word.txt', '1\ncat\n', ['line 2', '"cat"']],
    ['missing.csv', 'a.png,1\n', ['no label for b.png']],
    ['extra.csv', 'a.png,1\nb.png,2\nz.png,3\n', ['line 3 names z.png']],
    ['dup.csv', 'a.png,1\na.png,2\n', ['a second time']],
    ['badrow.csv', 'a.png,1,2\n', ["must be 'filename,label'"]],
    ['badlabel.csv', 'a.png,1\nb.png,x\n', ['line 2', '"x"']],
  ];
  for (const [name, text, frags] of cases) {
    await writeFile(join(ldir, name), text);
    await rejectsWith(readPngFolder(ldir, { labels: join(ldir, name) }), 'E_FORMAT', join(ldir, name), ...frags);
  }
  await writeFile(join(ldir, 'ok.csv'), 'b.png, 4\r\n"a.png",3\r\n');
  assert.deepEqual(Array.from((await readPngFolder(ldir, { labels: join(ldir, 'ok.csv') })).labels!), [3, 4]);
  await rejectsWith(readPngFolder(ldir, { labels: join(ldir, 'nolabels.csv') }), 'E_FILE', join(ldir, 'nolabels.csv'));
});

test('subsetDataset copies the chosen images and labels; checkDataset catches inconsistent fields', () => {
  const ds = { name: 't', count: 3, channels: 1, height: 1, width: 2, pixels: Uint8Array.of(1, 2, 3, 4, 5, 6), labels: Int32Array.of(7, 8, 9), source: 'mem' };
  const s = subsetDataset(ds, [2, 0]);
  assert.deepEqual(Array.from(s.pixels), [5, 6, 1, 2]);
  assert.deepEqual(Array.from(s.labels!), [9, 7]);
  assert.throws(() => subsetDataset(ds, [3]), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT');
  assert.throws(() => checkDataset({ ...ds, count: 4 }), (e: unknown) => e instanceof MimicError && e.code === 'E_SHAPE_MISMATCH');
  assert.throws(() => checkDataset({ ...ds, labels: Int32Array.of(1) }), (e: unknown) => e instanceof MimicError && /3 images but 1 labels/.test(e.message));
});
