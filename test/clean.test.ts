// The MIMIC distillation loop (`clean`) end to end on the committed CIFAR ResNet-18 fixture (width 8, 32x32) with a
// small synthetic dataset: losses, report.json, the exported student in onnxruntime, exact resume after an abort,
// the ablation switches, the NaN stop, the event loop, and `mimic clean --json`.
import { test } from 'node:test';

function assertCloseNorm(m: number[]): void {
  const n = Math.sqrt(m.reduce((s, v) => s + v * v, 0));
  if (!(Math.abs(n - 1) < 1e-3 || n === 0)) throw new Error(`attention map norm ${n}, expected 1`);
}
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { clean, type CleanOptions, type CleanResult } from '../lib/train/clean.ts';
import { readCheckpoint } from '../lib/train/clean-checkpoint.ts';
import { planTeacher } from '../lib/teacher/schedule.ts';
import { MimicError, type ImageDataset } from '../lib/index.ts';
import { smoothImages } from './helpers.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'resnet18_w8.onnx');
const cli = join(import.meta.dirname, '..', 'bin', 'mimic.js');

const images = (n: number, c: number, size: number, seed: number): ImageDataset => smoothImages(n, c, size, seed, new Int32Array(n).fill(7));

const data = images(200, 3, 32, 11);
const base = (dir: string, extra: Partial<CleanOptions> = {}): CleanOptions => ({
  teacher: fixture,
  data,
  out: join(dir, 'student.onnx'),
  cleanCount: 64,
  batchSize: 16,
  epochs: 2,
  seed: 3,
  threads: 1,
  transform: { normalize: 'cifar10' },
  ...extra,
});
const tmp = () => mkdtemp(join(tmpdir(), 'mimic-clean-'));

test('clean: the loop runs, losses are finite and fall, report.json has the schema, the student loads in onnxruntime', async () => {
  const dir = await tmp();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  let res: CleanResult;
  try {
    res = await clean(base(dir, { epochs: 3 }));
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  assert.ok(ticks >= Math.min(20, (seconds * 1000) / 5 / 10), `the event loop was blocked: ${ticks} ticks in ${seconds.toFixed(2)} s`);

  assert.equal(res.losses.length, 3 * 4);
  for (const l of res.losses) for (const k of ['total', 'contrastive', 'attention', 'clone', 'imagesPerSecond'] as const) assert.ok(Number.isFinite(l[k]), `${k} ${l[k]}`);
  assert.equal(res.epochs.length, 3);
  assert.ok(res.epochs[2].total < res.epochs[0].total, `total did not fall: ${res.epochs.map((e) => e.total)}`);

  const report = JSON.parse(await readFile(join(res.outDir, 'report.json'), 'utf8'));
  assert.deepEqual(Object.keys(report).sort(), ['attentionMaps', 'beta', 'config', 'data', 'environment', 'epochs', 'evalTrigger', 'localization', 'losses', 'mi', 'outputs', 'resumedFrom', 'seed', 'student', 'teacher', 'timings', 'tool', 'version'].sort());
  // what made it, from what, into what
  assert.equal(report.tool.name, 'mimic-engine');
  assert.match(report.tool.version, /^\d+\.\d+\.\d+/);
  assert.match(report.teacher.sha256, /^[0-9a-f]{64}$/);
  assert.equal(report.student.sha256, createHash('sha256').update(await readFile(res.outputs.student)).digest('hex'));
  assert.equal(report.resumedFrom, null);
  assert.equal(report.localization.n, 64);
  assert.ok(Math.abs(report.localization.lnN - Math.log(64)) < 1e-12);
  assert.equal(report.localization.weightsFrom.quantity, 'I_TZ_loo');
  assert.ok(existsSync(res.outputs.html));
  assert.equal(report.student.restoredBatchNorm.length, 20, 'the fixture was exported with BN folded into its 20 convs');
  assert.equal(report.config.restoreBatchNorm, true);
  assert.deepEqual(report.teacher.otherOutputs, []);
  // teacher-vs-student attention maps: 4 clean images x 4 probes, each map unit-norm over (h, w)
  assert.equal(report.attentionMaps.length, 4);
  for (const a of report.attentionMaps) {
    assert.equal(a.teacher.length, 4);
    a.teacher.concat(a.student).forEach((m: number[]) => assertCloseNorm(m));
  }
  assert.equal(report.version, 1);
  assert.equal(report.seed, 3);
  assert.equal(report.config.lr, 1e-2);
  assert.equal(report.config.weightDecay, 1e-6);
  assert.equal(report.config.tau, 0.5);
  assert.equal(report.config.batchSize, 16);
  for (const k of ['node', 'platform', 'cpu', 'threads', 'engine']) assert.ok(k in report.environment, k);
  assert.equal(report.data.manifest.selected, 64);
  assert.equal(report.data.manifest.labels, false, 'labels must not reach the loop');
  assert.equal(report.teacher.input, 'input');
  assert.equal(report.teacher.features, 'features');
  assert.equal(report.teacher.probes.length, 4);
  assert.deepEqual(report.teacher.probes.map((p: { shape: number[] }) => p.shape), [[8, 32, 32], [16, 16, 16], [32, 8, 8], [64, 4, 4]]);
  assert.equal(report.mi.length, 4);
  assert.equal(report.beta.length, 4);
  assert.ok(Math.abs(report.beta.reduce((a: number, b: number) => a + b, 0) - (4 * 1000 + 10000)) < 1e-6);
  for (const l of report.losses) assert.deepEqual(Object.keys(l).sort(), ['attention', 'clone', 'contrastive', 'epoch', 'imagesPerSecond', 'step', 'total']);
  for (const e of report.epochs) assert.deepEqual(Object.keys(e).sort(), ['attention', 'clone', 'contrastive', 'epoch', 'seconds', 'total']);
  for (const k of ['localize', 'train', 'export', 'total']) assert.ok(report.timings[k] >= 0, k);
  assert.equal(report.outputs.student, join(dir, 'student.onnx'));
  assert.ok(existsSync(report.outputs.checkpoint));

  const session = await ort.InferenceSession.create(res.outputs.student);
  assert.deepEqual(session.inputNames, ['input']);
  assert.deepEqual(session.outputNames, ['features']);
  const x = new Float32Array(5 * 3 * 32 * 32).map((_, i) => Math.sin(i));
  const out = await session.run({ input: new ort.Tensor('float32', x, [5, 3, 32, 32]) });
  assert.deepEqual(out.features.dims, [5, 64]);
  assert.ok((out.features.data as Float32Array).every(Number.isFinite));
});

test('clean: resume after an abort at the end of epoch 1 gives the same student as an uninterrupted run', async () => {
  const a = await tmp();
  const full = await clean(base(a));
  const b = await tmp();
  const ac = new AbortController();
  await assert.rejects(
    clean(base(b), { signal: ac.signal, onProgress: (p) => p.epochDone && p.epoch === 1 && ac.abort() }),
    (e: unknown) => e instanceof MimicError && e.code === 'E_ABORTED',
  );
  assert.ok(!existsSync(join(b, 'student.onnx')));
  const ck = await readCheckpoint<{ epoch: number; globalStep: number }>(join(b, 'student-mimic', 'checkpoint'));
  assert.equal(ck.meta.epoch, 1);
  assert.equal(ck.meta.globalStep, 4);
  const resumed = await clean(base(b, { resume: true }));
  assert.equal(resumed.resumedFrom, 4);
  assert.deepEqual(resumed.losses, full.losses.map((l, i) => ({ ...l, imagesPerSecond: resumed.losses[i].imagesPerSecond })));
  const [x, y] = await Promise.all([readFile(full.outputs.student), readFile(resumed.outputs.student)]);
  assert.ok(x.equals(y), 'the resumed student differs from the uninterrupted one');
  // stopped mid-epoch (after step 2 of epoch 2): the checkpoint holds the position, the result is the same
  const c = await tmp();
  const ac2 = new AbortController();
  await assert.rejects(
    clean(base(c), { signal: ac2.signal, onProgress: (p) => p.epoch === 2 && p.step === 2 && ac2.abort() }),
    (e: unknown) => e instanceof MimicError && e.code === 'E_ABORTED',
  );
  const mid = await clean(base(c, { resume: true }));
  assert.equal(mid.resumedFrom, 6);
  assert.ok((await readFile(mid.outputs.student)).equals(x), 'the student resumed mid-epoch differs');
  // a different configuration is refused
  await assert.rejects(clean(base(b, { resume: true, lr: 0.5 })), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT');
  // a finished run may be run again; an unfinished one only with resume or restart (restart: the same as a fresh run)
  const c2 = await tmp();
  const ac3 = new AbortController();
  await assert.rejects(clean(base(c2), { signal: ac3.signal, onProgress: (p) => p.epoch === 1 && p.step === 3 && ac3.abort() }), /stopped/);
  await assert.rejects(clean(base(c2)), /unfinished run \(epoch 0 \+ 3 steps of 2\)/);
  await assert.rejects(clean(base(c2, { resume: true, restart: true })), /resume and restart exclude each other/);
  // a restart drops the old checkpoint at once: stopped before its own first one, it leaves nothing to resume
  const ac4 = new AbortController();
  await assert.rejects(clean(base(c2, { restart: true }), { signal: ac4.signal, onProgress: (p) => p.phase === 'localize' && ac4.abort() }), /stopped during the MI localisation/);
  assert.ok(!existsSync(join(c2, 'student-mimic', 'checkpoint', 'checkpoint.bin')), 'the restart left the old checkpoint');
  const restarted = await clean(base(c2, { restart: true }));
  assert.equal(restarted.resumedFrom, null);
  assert.ok((await readFile(restarted.outputs.student)).equals(x), 'the restarted student differs from a fresh run');
  await clean(base(c2));
});

test('clean: each ablation switch removes its term', async () => {
  const dir = await tmp();
  const one = (extra: Partial<CleanOptions>) => clean(base(dir, { epochs: 1, ...extra }));
  const noAtt = await one({ noAttention: true });
  assert.ok(noAtt.losses.every((l) => l.attention === 0 && l.contrastive !== 0 && l.clone !== 0));
  assert.equal(noAtt.mi, null);
  const noClone = await one({ noClone: true });
  assert.ok(noClone.losses.every((l) => l.clone === 0 && l.attention !== 0 && l.contrastive !== 0));
  const noCon = await one({ noContrastive: true });
  assert.ok(noCon.losses.every((l) => l.contrastive === 0 && l.attention !== 0 && l.clone !== 0));
  const uniform = await one({ uniformBeta: true });
  assert.equal(uniform.mi, null);
  assert.deepEqual(uniform.beta, [3500, 3500, 3500, 3500]);
  const picked = await one({ probes: ['/layer3/layer3.1/Relu_1_output_0'] });
  assert.deepEqual(picked.teacher.probes.map((p) => p.name), ['/layer3/layer3.1/Relu_1_output_0']);
  assert.deepEqual(picked.beta, [11000]);
  await assert.rejects(one({ noAttention: true, noClone: true, noContrastive: true }), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT');
});

test('planTeacher: overlap while the cores allow it (or on a GPU), else inline on the student\'s threads', () => {
  assert.deepEqual(planTeacher('auto', 1, undefined, 2), { overlap: true, threads: 1 });
  assert.deepEqual(planTeacher('auto', 2, undefined, 2), { overlap: false, threads: 2 });
  assert.deepEqual(planTeacher('auto', 2, 3, 16), { overlap: true, threads: 3 });
  assert.deepEqual(planTeacher('auto', 14, 3, 16), { overlap: false, threads: 3 }); // explicit threads are kept
  assert.deepEqual(planTeacher('auto', 16, undefined, 16, true), { overlap: true, threads: 1 });
  assert.deepEqual(planTeacher('overlap', 8, undefined, 2), { overlap: true, threads: 1 });
  assert.deepEqual(planTeacher('inline', 1, undefined, 64), { overlap: false, threads: 1 });
  assert.deepEqual(planTeacher('inline', 4, 2, 64), { overlap: false, threads: 2 });
});

test('clean: the teacher inline or overlapped gives the same student; the report says which ran', async () => {
  const dir = await tmp();
  const run = (teacherSchedule: 'inline' | 'overlap', name: string) =>
    clean(base(dir, { epochs: 1, teacherSchedule, teacherThreads: 1, out: join(dir, name), reportImages: 0 }));
  const inline = await run('inline', 'inline.onnx');
  const overlap = await run('overlap', 'overlap.onnx');
  assert.deepEqual(inline.environment.teacher, { schedule: 'inline', threads: 1, provider: 'cpu' });
  assert.deepEqual(overlap.environment.teacher, { schedule: 'overlap', threads: 1, provider: 'cpu' });
  assert.deepEqual(inline.losses, overlap.losses.map((l, i) => ({ ...l, imagesPerSecond: inline.losses[i].imagesPerSecond })));
  assert.ok((await readFile(inline.outputs.student)).equals(await readFile(overlap.outputs.student)), 'the students differ');
  await assert.rejects(clean(base(dir, { teacherSchedule: 'later' as never })), (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && /teacherSchedule/.test(e.message));
});

test('clean: a NaN loss stops with E_NON_FINITE and keeps the last good checkpoint', async () => {
  const dir = await tmp();
  await assert.rejects(clean(base(dir, { faultInjection: { nanAtStep: 5 } })), (e: unknown) => e instanceof MimicError && e.code === 'E_NON_FINITE');
  const ck = await readCheckpoint<{ epoch: number; globalStep: number }>(join(dir, 'student-mimic', 'checkpoint'));
  assert.equal(ck.meta.epoch, 1);
  assert.equal(ck.meta.globalStep, 4);
  assert.ok(!existsSync(join(dir, 'student.onnx')));
});

/** A gzip-less IDX image file (n x h x w uint8). */
function idx(ds: ImageDataset): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x00000803, 0);
  head.writeUInt32BE(ds.count, 4);
  head.writeUInt32BE(ds.height, 8);
  head.writeUInt32BE(ds.width, 12);
  return Buffer.concat([head, Buffer.from(ds.pixels)]);
}

test('mimic clean --json: gray 28x28 IDX data padded and converted, end to end', async () => {
  const dir = await tmp();
  const file = join(dir, 'images-idx3-ubyte');
  await writeFile(file, idx(images(200, 1, 28, 5)));
  const out = join(dir, 'student.onnx');
  const args = ['clean', '--teacher', fixture, '--data', file, '--clean-count', '64', '--batch', '16', '--epochs', '2', '--out', out, '--resize', 'pad', '--convert-channels', '--normalize', 'cifar10', '--threads', '1', '--json'];
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.student, out);
  assert.equal(s.epochs.length, 2);
  assert.equal(s.manifest.selected, 64);
  assert.ok(existsSync(s.report) && existsSync(out));
  const session = await ort.InferenceSession.create(out);
  assert.deepEqual(session.inputNames, ['input']);
  // resume with nothing left to do just exports again; a bad option is a usage error (exit 2)
  const again = spawnSync(process.execPath, [cli, ...args, '--resume'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).resumedFrom, 8);
  const bad = spawnSync(process.execPath, [cli, 'clean', '--teacher', fixture, '--data', file, '--out', out, '--batch', '0'], { encoding: 'utf8' });
  assert.equal(bad.status, 2, bad.stderr);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  test(`mimic clean: ${signal} saves a checkpoint and exits with 128 + its number; a rerun without --resume is refused; --resume continues`, async () => {
    const { spawn } = await import('node:child_process');
    const dir = await tmp();
    const file = join(dir, 'images-idx3-ubyte');
    await writeFile(file, idx(images(200, 1, 28, 6)));
    const out = join(dir, 'student.onnx');
    const args = ['clean', '--teacher', fixture, '--data', file, '--clean-count', '64', '--batch', '16', '--epochs', '200', '--out', out, '--resize', 'pad', '--convert-channels', '--threads', '1'];
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/epoch 1\/200/.test(stderr) && !child.killed) child.kill(signal);
      });
      child.on('exit', (c) => resolve(c));
    });
    assert.equal(code, signal === 'SIGINT' ? 130 : 143, stderr); // 128 + the signal's number
    assert.match(stderr, /checkpoint saved/);
    const ck = await readCheckpoint<{ epoch: number; globalStep: number }>(join(dir, 'student-mimic', 'checkpoint'));
    assert.ok(ck.meta.globalStep >= 4 && ck.meta.globalStep < 800);
    // the same command again would throw that progress away: refused, naming both ways on
    const again = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    assert.equal(again.status, 2, again.stderr);
    assert.match(again.stderr, /holds an unfinished run \(epoch \d+( \+ \d+ steps)? of 200\): continue it with resume \(--resume\), or start over with restart \(--restart\)/);
    const r = spawnSync(process.execPath, [cli, ...args, '--epochs', String(ck.meta.epoch + 1), '--resume', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).resumedFrom, ck.meta.globalStep);
    assert.ok(existsSync(out));
  });

test('perturbation-invariant distillation is the default; --faithful turns it (and the cosine schedule) off', async () => {
  const { parsePerturbSpec, DEFAULT_PERTURB, PERTURB_FAMILIES } = await import('../lib/train/clean.ts');
  assert.equal(parsePerturbSpec('none'), null);
  assert.deepEqual(parsePerturbSpec('patch=0.5,noise'), { patch: { ...PERTURB_FAMILIES.patch, rate: 0.5 }, noise: PERTURB_FAMILIES.noise });
  assert.deepEqual(parsePerturbSpec('patch,noise=1:sigma=0.2:kind=uniform'), DEFAULT_PERTURB);
  assert.throws(() => parsePerturbSpec('patch,patch'), /named twice/);
  assert.throws(() => parsePerturbSpec('squares'), /not a family/);
  assert.throws(() => parsePerturbSpec('blend=2'), /must be in \[0, 1\]/);
  assert.deepEqual(parsePerturbSpec('patch,noise=1:sigma=0.2:kind=uniform'), { patch: PERTURB_FAMILIES.patch, noise: { rate: 1, sigma: 0.2, kind: 'uniform' } });
  assert.deepEqual(parsePerturbSpec('patch:count=3:fill=gray'), { patch: { ...PERTURB_FAMILIES.patch, count: 3, fill: 'gray' } });
  assert.throws(() => parsePerturbSpec('noise:alpha=0.2'), /noise has no parameter 'alpha' \(it has sigma, kind\)/);
  assert.throws(() => parsePerturbSpec('noise:sigma=x'), /noise sigma must be a number/);
  assert.throws(() => parsePerturbSpec('patch:fill=pink'), /patch fill must be one of gray, color, texture, mixed/);
  assert.throws(() => parsePerturbSpec('patch:sizeMin=20:sizeMax=4'), /patch sizeMin 20 is above sizeMax 4/);
  const dir = await tmp();
  const small = { epochs: 1, reportImages: 0 };
  const def = await clean(base(join(dir, 'd'), small));
  assert.deepEqual(def.config.perturb, DEFAULT_PERTURB);
  assert.equal(def.config.lrSchedule, 'cosine');
  const faithful = await clean(base(join(dir, 'f'), { ...small, faithful: true }));
  assert.equal(faithful.config.perturb, null);
  assert.equal(faithful.config.lrSchedule, 'constant');
  // same seed, data and schedule: only the student's view 1 differs (the teacher's is clean), so the first
  // step's clone and attention terms, which compare the student's view 1 with the teacher's, change
  const squares = { patch: { rate: 1, sizeMin: 12, sizeMax: 16, fill: 'texture' as const } };
  // faithful is what the report says ran: it refuses the defence and the cosine schedule
  await assert.rejects(clean(base(join(dir, 'x'), { ...small, faithful: true, perturb: squares })), /faithful runs the published method without perturbations/);
  await assert.rejects(clean(base(join(dir, 'x'), { ...small, faithful: true, lrSchedule: 'cosine' })), /constant lr/);
  const patched = await clean(base(join(dir, 'p'), { ...small, lrSchedule: 'constant', warmupEpochs: 0, perturb: squares }));
  assert.notEqual(patched.losses[0].clone, faithful.losses[0].clone);
  assert.notEqual(patched.losses[0].attention, faithful.losses[0].attention);
});
