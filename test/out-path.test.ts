// Output paths are checked before long work: folders made one level at a time (no endless loop on /proc), a
// directory or a run's own input refused as --out, and the long jobs (clean, pretrain, badencoder) refusing at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, symlink, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDir, prepareOutputFile } from '../lib/io/out-path.ts';
import { clean } from '../lib/train/clean.ts';
import { pretrain } from '../lib/train/pretrain.ts';
import { badEncoder } from '../lib/attack/badencoder.ts';
import { MimicError } from '../lib/errors.ts';
import { smoothImages } from './helpers.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'resnet18_w8.onnx');
const tmp = () => mkdtemp(join(tmpdir(), 'mimic-out-'));

/** Rejects with `code` and a message matching `re`, within `ms` (a hang fails the test instead of stalling it). */
async function rejectsSoon(p: Promise<unknown>, code: string, re: RegExp, ms = 10000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise((_, fail) => (timer = setTimeout(() => fail(new Error(`no answer within ${ms} ms`)), ms)));
  try {
    await assert.rejects(Promise.race([p, hang]), (e: unknown) => {
      assert.ok(e instanceof MimicError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      return true;
    });
  } finally {
    clearTimeout(timer);
  }
}

test('ensureDir: makes nested folders; a file in the way and a /proc path are E_FILE errors, at once', async () => {
  const dir = await tmp();
  await ensureDir(join(dir, 'a', 'b', 'c'), 'out');
  assert.ok(existsSync(join(dir, 'a', 'b', 'c')));
  await ensureDir(join(dir, 'a', 'b', 'c'), 'out'); // already there
  await writeFile(join(dir, 'file'), 'x');
  await rejectsSoon(ensureDir(join(dir, 'file', 'sub'), '--out-dir'), 'E_FILE', /--out-dir .*file is a file, not a directory/);
  // Node 20's recursive mkdir spins forever here
  if (existsSync('/proc/self')) await rejectsSoon(ensureDir('/proc/mimic-test/x', 'outDir'), 'E_FILE', /outDir \/proc\/mimic-test\/x: cannot create \/proc\/mimic-test/);
});

test('prepareOutputFile: refuses a directory and the run\'s own input (also through a symlink), creates the folder', async () => {
  const dir = await tmp();
  await mkdir(join(dir, 'adir'));
  await rejectsSoon(prepareOutputFile(join(dir, 'adir'), { what: 'out' }), 'E_FILE', /out .*adir: is a directory/);
  const model = join(dir, 'teacher.onnx');
  await writeFile(model, 'model bytes');
  await symlink(model, join(dir, 'link.onnx'));
  for (const out of [model, join(dir, '.', 'teacher.onnx'), join(dir, 'link.onnx')])
    await rejectsSoon(prepareOutputFile(out, { what: 'out', inputs: [{ path: model, what: 'teacher' }] }), 'E_INVALID_ARGUMENT', /is the teacher itself/);
  await prepareOutputFile(join(dir, 'new', 'deeper', 'student.onnx'), { what: 'out', inputs: [{ path: model, what: 'teacher' }, { path: undefined, what: 'data' }] });
  assert.ok(existsSync(join(dir, 'new', 'deeper')));
  assert.equal(await readFile(model, 'utf8'), 'model bytes');
});

test('clean, pretrain and badencoder refuse a bad output before reading any data or training', async () => {
  const dir = await tmp();
  const teacher = join(dir, 'teacher.onnx');
  await copyFile(fixture, teacher);
  const before = await readFile(teacher);
  // `data` is a path that does not exist: an output check that came after the data would report the data instead
  const data = join(dir, 'no-such-data');
  await rejectsSoon(clean({ teacher, data, out: teacher, threads: 1 }), 'E_INVALID_ARGUMENT', /out .*teacher\.onnx is the teacher itself/);
  assert.ok(before.equals(await readFile(teacher)), 'the teacher changed');
  await mkdir(join(dir, 'outdir'));
  await rejectsSoon(clean({ teacher, data, out: join(dir, 'outdir'), threads: 1 }), 'E_FILE', /is a directory/);
  await writeFile(join(dir, 'plain'), 'x');
  await rejectsSoon(clean({ teacher, data, out: join(dir, 's.onnx'), outDir: join(dir, 'plain', 'sub'), threads: 1 }), 'E_FILE', /outDir .*plain is a file/);
  await rejectsSoon(pretrain({ data, out: join(dir, 'outdir'), architecture: { template: teacher } }), 'E_FILE', /is a directory/);
  await rejectsSoon(pretrain({ data, out: teacher, architecture: { template: teacher } }), 'E_INVALID_ARGUMENT', /is the template itself/);
  const images = smoothImages(8, 3, 32, 1, new Int32Array(8));
  await rejectsSoon(badEncoder({ encoder: teacher, data: images, trigger: 'white:4@0,0', target: 0, out: teacher }), 'E_INVALID_ARGUMENT', /is the encoder itself/);
  assert.ok(before.equals(await readFile(teacher)), 'the teacher changed');
});

test('pretrain refused before it wrote anything (missing data) leaves no output folder behind', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mimic-pt-refused-'));
  await assert.rejects(pretrain({ data: join(dir, 'no-such-data'), out: join(dir, 'a', 'b', 'enc.onnx'), epochs: 1 }), (e: unknown) => e instanceof MimicError && e.code === 'E_FILE');
  assert.equal(existsSync(join(dir, 'a')), false);
});
