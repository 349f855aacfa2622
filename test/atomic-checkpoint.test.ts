// Nothing lost on failure: every byte of a file is written even when the disk returns short counts (a full disk),
// a checkpoint with a changed bit is refused on resume, two runs cannot share a checkpoint folder (a killed run's
// lock is taken over), and a mistyped --restart does not drop the run it was meant to replace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAll, writeFileAtomic } from '../lib/io/atomic.ts';
import { claimCheckpointDir, readCheckpoint, writeCheckpoint, CHECKPOINT_FILE } from '../lib/train/clean-checkpoint.ts';
import { clean } from '../lib/train/clean.ts';
import { MimicError } from '../lib/errors.ts';
import { smoothImages } from './helpers.ts';

const tmp = () => mkdtemp(join(tmpdir(), 'mimic-atomic-'));

test('writeAll retries short writes until every byte is written, and fails when a write makes no progress', async () => {
  const got: number[] = [];
  const shortWrites = { write: async (b: Uint8Array, off: number, len: number) => {
    const n = Math.min(len, 3); // a full-ish disk: a few bytes per call
    got.push(...b.subarray(off, off + n));
    return { bytesWritten: n, buffer: b };
  } };
  const data = Uint8Array.from({ length: 20 }, (_, i) => i);
  await writeAll(shortWrites as never, data);
  assert.deepEqual(got, [...data]);
  const stuck = { write: async (b: Uint8Array) => ({ bytesWritten: 0, buffer: b }) };
  await assert.rejects(writeAll(stuck as never, data), /no space left on device/);
});

test('writeFileAtomic: the target appears whole or not at all, no temporary file is left', async () => {
  const dir = await tmp();
  const file = join(dir, 'out.bin');
  await writeFile(file, 'old');
  await writeFileAtomic(file, [Buffer.from('new '), Buffer.from('content')], 'the test file');
  assert.equal(await readFile(file, 'utf8'), 'new content');
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'x.bin'), [Buffer.from('x')], 'the test file'), (e: unknown) => e instanceof MimicError && e.code === 'E_FILE' && /missing\/x\.bin: could not write the test file/.test(e.message));
  assert.deepEqual((await readdir(dir)).sort(), ['out.bin']);
});

test('a checkpoint with one bit changed is refused on resume, naming the file', async () => {
  const dir = await tmp();
  const file = await writeCheckpoint(dir, { epoch: 3 }, { w: Float32Array.from([1, 2, 3, 4]) });
  assert.deepEqual((await readCheckpoint<{ epoch: number }>(dir)).meta, { epoch: 3 });
  const bytes = await readFile(file);
  for (const at of [20, bytes.length - 40]) { // in the header ("epoch":3) and in the tensors
    const bad = Buffer.from(bytes);
    bad[at] ^= 1;
    await writeFile(file, bad);
    await assert.rejects(readCheckpoint(dir), (e: unknown) => e instanceof MimicError && e.code === 'E_FORMAT' && e.message.includes(file) && /SHA-256 does not match/.test(e.message));
  }
});

test('a checkpoint folder in use by a live run is refused; a killed run\'s lock is taken over', async () => {
  const dir = await tmp();
  const claim = await claimCheckpointDir(dir, {}, () => null);
  await assert.rejects(claimCheckpointDir(join(dir, '.'), {}, () => null), (e: unknown) => e instanceof MimicError && /in use by another run in this process/.test(e.message));
  await claim.release();
  const again = await claimCheckpointDir(dir, {}, () => null); // released: a later run may take it
  await again.release();
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)']);
  try {
    await writeFile(join(dir, '.lock'), `${other.pid}\n`);
    await assert.rejects(claimCheckpointDir(dir, {}, () => null), (e: unknown) => e instanceof MimicError && e.code === 'E_FILE' && new RegExp(`in use by another run \\(process ${other.pid}\\)`).test(e.message));
  } finally {
    other.kill('SIGKILL');
  }
  await new Promise((r) => other.once('exit', r));
  const taken = await claimCheckpointDir(dir, {}, () => null); // its process is gone
  await taken.release();
  assert.equal(existsSync(join(dir, '.lock')), false);
});

test('clean: a restart with a mistyped teacher fails before the old checkpoint is dropped', async () => {
  const dir = await tmp();
  const ckpt = join(dir, 's-mimic', 'checkpoint');
  await writeCheckpoint(ckpt, { epoch: 1, stepInEpoch: 2, config: { epochs: 5 } }, { w: new Float32Array(4) });
  await assert.rejects(clean({ teacher: join(dir, 'no-such-teacher.onnx'), data: smoothImages(32, 3, 16, 1), out: join(dir, 's.onnx'), restart: true, epochs: 1 }), (e: unknown) => e instanceof MimicError && /no-such-teacher/.test(e.message));
  assert.ok(existsSync(join(ckpt, CHECKPOINT_FILE)), 'the run to be replaced is still there');
  assert.equal(existsSync(join(ckpt, '.lock')), false, 'the lock was released');
});

test('claiming a checkpoint folder removes the temporary files of runs that were killed, not those of live ones', async () => {
  const dir = await tmp();
  const ckpt = join(dir, 'checkpoint');
  await claimCheckpointDir(ckpt, {}, () => null).then((c) => c.release());
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.once('exit', r));
  const stale = [join(ckpt, `.checkpoint.bin.${dead.pid}.abc123.tmp`), join(dir, `.report.json.${dead.pid}.x9.tmp`)];
  const live = join(ckpt, `.checkpoint.bin.${process.pid}.zz.tmp`);
  for (const f of [...stale, live]) await writeFile(f, 'partial');
  const c = await claimCheckpointDir(ckpt, {}, () => null);
  await c.release();
  for (const f of stale) assert.equal(existsSync(f), false, `${f} was swept`);
  assert.ok(existsSync(live), 'a live process\'s temporary file is kept');
});
