// The `mimic` command end to end: info, mi-arrays on .npy files (JSON and table), the demo, and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy } from '../lib/index.ts';
import { correlated, freshSeed, gaussian } from './helpers.ts';

const cli = join(import.meta.dirname, '..', 'bin', 'mimic.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('mimic info --json reports the build', () => {
  const r = run('info', '--json');
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(typeof info.cudaCompiled, 'boolean');
  assert.ok(info.threads >= 1);
  assert.match(info.kernelPath, /^(generic|avx2|avx512)$/);
});

test('mimic --version prints the package version (and the commit of a checkout)', async () => {
  const r = run('--version');
  assert.equal(r.status, 0, r.stderr);
  const pkg = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8'));
  assert.match(r.stdout.trim(), new RegExp(`^${pkg.version.replace(/\./g, '\\.')}( \\([0-9a-f]{40}(\\+dirty)?\\))?$`));
});

test('mimic mi-arrays: correlated layer scores higher than an unrelated one; JSON and table output', async () => {
  const seed = freshSeed('cli mi-arrays');
  const dir = await mkdtemp(join(tmpdir(), 'mimic-cli-'));
  const n = 500;
  const { x, y } = correlated(n, 4, 4, 0.9, 4, seed);
  await writeNpy(join(dir, 'related.npy'), x, [n, 2, 2]);
  await writeNpy(join(dir, 'noise.npy'), gaussian(n * 4, seed + 3), [n, 4]);
  await writeNpy(join(dir, 'z.npy'), y, [n, 4]);
  await writeNpy(join(dir, 'y.npy'), Int32Array.from({ length: n }, (_, i) => (x[i * 4] > 0 ? 1 : 0)), [n]);
  const args = ['mi-arrays', '-l', join(dir, 'related.npy'), '-l', join(dir, 'noise.npy'), '-f', join(dir, 'z.npy'), '--labels', join(dir, 'y.npy'), '-b', '0.25', '--backend', 'cpu'];
  const r = run(...args, '--json');
  assert.equal(r.status, 0, r.stderr);
  const est = JSON.parse(r.stdout);
  assert.equal(est.n, n);
  assert.equal(est.layers[0].dim, 4);
  const [related, noise] = est.layers.map((l: { values: Record<string, number[]> }) => l.values);
  assert.ok(related.I_TZ_loo[0] > 0.5, `related ${related.I_TZ_loo[0]}`);
  assert.ok(Math.abs(noise.I_TZ_loo[0]) < 0.1, `noise ${noise.I_TZ_loo[0]}`);
  assert.ok(related.I_TY[0] > noise.I_TY[0]);
  const table = run(...args);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /ln N ceiling = 6\.2146/);
  assert.match(table.stdout, /related\.npy/);
});

test('mimic mi-arrays: a missing file exits 3 naming it; a bad option exits 2', () => {
  const r = run('mi-arrays', '-l', '/nonexistent/a.npy');
  assert.equal(r.status, 3);
  assert.match(r.stderr, /\/nonexistent\/a\.npy: cannot read/);
  const q = run('mi-arrays', '-l', cli, '--backend', 'tpu');
  assert.equal(q.status, 2);
  assert.match(q.stderr, /backend/);
});

test('bad option values are usage errors naming the option, raised before any file is read', () => {
  for (const [args, re] of [
    [['clean', '--teacher', '/nonexistent.onnx', '--data', '/nonexistent', '--out', 'x.onnx', '--epochs', '0x1'], /option '--epochs <n>' argument '0x1' is invalid\. '0x1' is not a number/],
    [['clean', '--teacher', '/nonexistent.onnx', '--data', '/nonexistent', '--out', 'x.onnx', '--batch', '1'], /option '--batch <n>' argument '1' is invalid\. must be an integer >= 2/],
    [['clean', '--teacher', '/nonexistent.onnx', '--data', '/nonexistent', '--out', 'x.onnx', '--clean-fraction', '1.5'], /'--clean-fraction <f>' argument '1\.5' is invalid\. must be in \(0, 1\]/],
    [['eval', '--encoder', '/nonexistent.onnx', '--train', '/n', '--test', '/n', '--mlp-dropout', '1'], /'--mlp-dropout <p>' argument '1' is invalid\. must be in \[0, 1\)/],
    [['attack', 'badencoder', '--encoder', '/n.onnx', '--data', '/n', '--trigger', 'white:2@0,0', '--target', '0', '--out', 'x.onnx', '--momentum', '2'], /'--momentum <x>'/],
    [['pretrain', '--data', '/n', '--out', 'x.onnx', '--lr', '-0.1'], /'--lr <x>' argument '-0\.1' is invalid\. must be > 0/],
    [['mi', '--teacher', '/n.onnx', '--data', '/n', '-n', '1'], /'-n, --n <count>' argument '1' is invalid/],
    [['demo', '--samples', 'abc'], /'-n, --samples <n>' argument 'abc' is invalid/],
    [['pretrain', '--data', '/n', '--out', 'x.onnx', '--template', '/n.onnx', '--width', '16'], /--width shapes the built-in ResNet-18; --template gives the architecture/],
  ] as const) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /nonexistent|ENOENT/, 'a file was opened before the options were checked');
  }
});

test('mimic demo runs the built-in job: MI ranks the unrelated layer last, then a cleaning run writes a student and a report', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mimic-demo-'));
  const r = run('demo', '--samples', '600', '--epochs', '1', '--eval-train', '1000', '--eval-test', '400', '--out-dir', dir, '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.beta.length, 4);
  const min = Math.min(...out.beta);
  assert.equal(out.beta[3], min, `beta ${out.beta}`);
  assert.ok(Math.abs(out.beta.reduce((a: number, b: number) => a + b, 0) - 14000) < 1e-6);
  assert.equal(out.cleaning.epochs.length, 1);
  assert.ok(Number.isFinite(out.cleaning.epochs[0].total));
  assert.ok(existsSync(join(dir, 'student.onnx')) && existsSync(join(dir, 'report.html')) && existsSync(join(dir, 'report.json')));
  if (existsSync('/usr/share/datasets/fashion-mnist')) {
    // the backdoor-removal part: clean encoder, teacher, student rows; the committed teacher carries its backdoor
    const rows = out.evaluation as { model: string; cleanAccuracy: number; asr: number }[];
    assert.equal(rows.length, 3);
    assert.ok(rows[1].asr > rows[0].asr + 0.3, `teacher ASR ${rows[1].asr} vs clean ${rows[0].asr}`);
    for (const r of rows) assert.ok(r.cleanAccuracy > 0.1 && r.cleanAccuracy <= 1);
    assert.ok(existsSync(join(dir, 'evaluation.json')));
    // and the report carries it: the same numbers, the student's checksum
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    assert.deepEqual(report.evaluation.rows.map((r: { asr: number }) => r.asr), rows.map((r) => r.asr));
    assert.equal(report.evaluation.rows[2].sha256, report.student.sha256);
    assert.match(await readFile(join(dir, 'report.html'), 'utf8'), /<h2>Evaluation \(after the cleaning/);
  }
});
