// .npy reading and writing: round trips, every supported dtype, and typed errors that name the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, parseNpy, readNpy, toMatrix, writeNpy, MimicError } from '../lib/index.ts';
import { freshSeed, gaussian } from './helpers.ts';

function header(descr: string, shape: string, extra = ''): Uint8Array {
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, ${extra}}`;
  h += ' '.repeat(63 - ((10 + h.length) % 64)) + '\n';
  const out = new Uint8Array(10 + h.length);
  out.set([0x93, 78, 85, 77, 80, 89, 1, 0]);
  new DataView(out.buffer).setUint16(8, h.length, true);
  out.set(Buffer.from(h, 'latin1'), 10);
  return out;
}

test('float32 and int32 round trip through writeNpy/readNpy; the header is 64-byte aligned', async () => {
  const seed = freshSeed('npy');
  const dir = await mkdtemp(join(tmpdir(), 'mimic-npy-'));
  const x = gaussian(3 * 5 * 2, seed);
  await writeNpy(join(dir, 'x.npy'), x, [3, 5, 2]);
  const back = await readNpy(join(dir, 'x.npy'));
  assert.equal(back.dtype, 'float32');
  assert.deepEqual(back.shape, [3, 5, 2]);
  assert.deepEqual(Array.from(back.data as Float32Array), Array.from(x));
  const m = toMatrix(back, 'x.npy');
  assert.equal(m.rows, 3);
  assert.equal(m.cols, 10);
  const enc = encodeNpy(new Int32Array([1, -2, 3]), [3]);
  assert.equal((enc.length - 3 * 4) % 64, 0);
  const y = parseNpy(enc);
  assert.equal(y.dtype, 'int32');
  assert.deepEqual(Array.from(y.data as Int32Array), [1, -2, 3]);
});

test('float64, uint8 and int64 arrays are read and converted to float32 matrices explicitly', () => {
  const f64 = new Float64Array([1.5, -2, 3.25, 4]);
  const a = parseNpy(new Uint8Array([...header('<f8', '(2, 2)'), ...new Uint8Array(f64.buffer)]));
  assert.deepEqual(Array.from(toMatrix(a, 'a').data), [1.5, -2, 3.25, 4]);
  const u8 = parseNpy(new Uint8Array([...header('|u1', '(3,)'), 7, 8, 255]));
  assert.deepEqual(Array.from(u8.data as Uint8Array), [7, 8, 255]);
  const i64 = parseNpy(new Uint8Array([...header('<i8', '(2,)'), ...new Uint8Array(new BigInt64Array([5n, -6n]).buffer)]));
  assert.deepEqual(Array.from(toMatrix(i64, 'i').data), [5, -6]);
});

test('corrupt, truncated, unsupported and missing files give typed errors naming the file', async () => {
  const bad = (bytes: Uint8Array, re: RegExp) =>
    assert.throws(() => parseNpy(bytes, 'f.npy'), (e: unknown) => e instanceof MimicError && e.code === 'E_FORMAT' && /f\.npy/.test(e.message) && re.test(e.message));
  bad(new Uint8Array([1, 2, 3]), /magic/);
  bad(header('<f4', '(4,)'), /truncated: shape \(4\) needs 16 bytes/);
  bad(header('>f4', '(1,)'), /dtype '>f4' is not supported/);
  bad(header('<f4', '(2,)').slice(0, 20), /header is truncated/);
  const fortran = header('<f4', '(1,)');
  Buffer.from(fortran.buffer).write("'fortran_order': True ", 27, 'latin1');
  bad(new Uint8Array([...fortran, 0, 0, 0, 0]), /Fortran|malformed/);
  const dir = await mkdtemp(join(tmpdir(), 'mimic-npy-'));
  await assert.rejects(readNpy(join(dir, 'missing.npy')), (e: unknown) => e instanceof MimicError && e.code === 'E_FILE' && /missing\.npy: cannot read \(ENOENT\)/.test(e.message));
  await writeFile(join(dir, 'short.npy'), header('<f4', '(10, 3)'));
  await assert.rejects(readNpy(join(dir, 'short.npy')), (e: unknown) => e instanceof MimicError && /short\.npy.*needs 120 bytes/.test(e.message));
});

test('writing: bad shapes, data types and unwritable paths are typed errors; nothing is left behind', async () => {
  const isCode = (code: string, re: RegExp) => (e: unknown) => e instanceof MimicError && e.code === code && re.test(e.message);
  assert.throws(() => encodeNpy(new Float32Array(4), [-2, -2]), isCode('E_INVALID_ARGUMENT', /non-negative integers/));
  assert.throws(() => encodeNpy(new Float32Array(4), [2, 2.5]), isCode('E_INVALID_ARGUMENT', /non-negative integers/));
  assert.throws(() => encodeNpy([1, 2] as unknown as Float32Array, [2]), isCode('E_DTYPE', /Float32Array/));
  assert.throws(() => parseNpy(null as unknown as Uint8Array), isCode('E_DTYPE', /Uint8Array/));
  await assert.rejects(writeNpy('/nonexistent-dir/x.npy', new Float32Array(2), [2]), isCode('E_FILE', /\/nonexistent-dir\/x\.npy: cannot write \(ENOENT\)/));
});
