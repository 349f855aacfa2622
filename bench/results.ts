/**
 * The README's defence results, regenerated: `npm run results -- [options]`.
 *
 * For each attack (BadEncoder with a white patch, poisoning with the same patch, BadEncoder with a blended noise
 * trigger) and seed: the backdoored teacher is made with `mimic attack`, then every defence variant runs
 * `mimic clean` (or `mimic pretrain --init-from-template` for the fine-tuning baseline) on 4% clean Fashion-MNIST,
 * and every encoder is evaluated with `mimic eval` (clean accuracy and attack success rate by weighted kNN, and
 * optionally a linear probe). Every step is a CLI call whose output file is kept: re-running skips finished work
 * (resumable), `--jobs N` runs independent calls in parallel (each with --threads engine threads).
 *
 * Output: <out>/results.json (every evaluation, with the command lines), <out>/results.md (mean +/- sd tables) and
 * <out>/raw.md (one row per evaluation; --raw prints it).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(root, 'bin', 'mimic.js');
const FMNIST = '/usr/share/datasets/fashion-mnist';
const LAYOUT = ['--resize', 'pad', '--convert-channels', '--normalize', 'cifar10'];

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const out = resolve(arg('out', join(root, 'bench', 'out', 'results')));
const data = arg('data', FMNIST);
const seeds = Number(arg('seeds', '3'));
const jobs = Number(arg('jobs', '1'));
const threads = Number(arg('threads', String(Math.max(1, Math.floor(cpus().length / Math.max(1, Number(arg('jobs', '1'))))))));
const cleanEpochs = arg('epochs', '30');
const cleanFraction = arg('clean-fraction', '0.04');
const pretrainEpochs = arg('pretrain-epochs', '15');
const pretrainCount = arg('pretrain-count', '10000');
const attackEpochs = arg('attack-epochs', '3');
const shadowCount = arg('shadow-count', '5000');
const width = arg('width', '8');
const target = arg('target', '0');
const classifiers = arg('classifiers', 'knn');
const evalTrain = arg('eval-train-count', '20000');
const evalTest = arg('eval-test-count', '5000');
const cleanEncoderArg = arg('clean-encoder', '');
const attacks = arg('attacks', 'badencoder,poison,blend,ctrl').split(',');
// --seed-list 1,2 runs those seeds only (to split the work between machines); tables use what exists
const seedList = arg('seed-list', '').split(',').filter(Boolean).map(Number);
const PATCH = 'white:10@21,21';
const BLEND = 'blend:noise@0.15:1';
const FREQ = 'freq:100'; // CTRL's magnitude and frequencies (31,31) + (15,15) on Cb and Cr
const TRIGGERS: Record<string, string> = { badencoder: PATCH, poison: PATCH, blend: BLEND, ctrl: FREQ, poisonctrl: FREQ };
// attacks made by poisoned SimCLR pre-training (the rest fine-tune the clean encoder with BadEncoder)
const POISONED = new Set(['poison', 'poisonctrl']);
const TITLES: Record<string, string> = {
  badencoder: `BadEncoder, patch ${PATCH}`,
  poison: `poisoned pre-training, patch ${PATCH} on 50% of target-class images`,
  blend: `BadEncoder, blended trigger ${BLEND}`,
  ctrl: `BadEncoder, CTRL-style frequency trigger ${FREQ}`,
  poisonctrl: `poisoned pre-training (CTRL), frequency trigger ${FREQ} on 50% of target-class images`,
};

interface Variant {
  name: string;
  label: string;
  args: string[];
  finetune?: boolean;
}
const VARIANTS: Variant[] = [
  { name: 'faithful', label: 'MIMIC, faithful (--faithful)', args: ['--faithful'] },
  { name: 'patchnoise', label: 'MIMIC + squares and full-image noise (the default)', args: ['--perturb', 'patch,noise=1:sigma=0.2:kind=uniform'] },
  { name: 'patch', label: 'MIMIC + patch perturbation (squares; the first default)', args: ['--perturb', 'patch'] },
  { name: 'blendp', label: 'MIMIC + blend perturbation', args: ['--perturb', 'blend'] },
  { name: 'noise', label: 'MIMIC + noise perturbation', args: ['--perturb', 'noise'] },
  { name: 'all', label: 'MIMIC + patch, blend and noise perturbations', args: ['--perturb', 'patch,blend,noise'] },
  { name: 'finetune', label: 'baseline: fine-tune teacher (SimCLR)', args: [], finetune: true },
  { name: 'clone', label: 'baseline: plain distillation (clone only)', args: ['--faithful', '--no-attention', '--no-contrastive'] },
  { name: 'uniform', label: 'ablation: uniform beta (faithful)', args: ['--faithful', '--uniform-beta'] },
  { name: 'noatt', label: 'ablation: no attention (faithful)', args: ['--faithful', '--no-attention'] },
];
const variants = VARIANTS.filter((v) => arg('variants', VARIANTS.map((x) => x.name).join(',')).split(',').includes(v.name));

// ---- a tiny job graph: each job is one CLI call producing one file ----
interface Job {
  id: string;
  output: string;
  args: string[];
  deps: string[];
}
const graph = new Map<string, Job>();
const add = (j: Job) => (graph.has(j.id) ? graph.get(j.id)! : (graph.set(j.id, j), j));

/** What makes a step's output valid: its command line without machine-local paths and thread counts. */
function stepKey(args: string[]): string {
  const local = new Set(['--data', '--train', '--test', '--threads', '--encoder-threads']);
  return JSON.stringify(args.filter((a, i) => !local.has(a) && !local.has(args[i - 1])));
}
/** Done: the output exists and was made by the same command (outputs older than the .args sidecar count as done). */
function isDone(job: Job): boolean {
  if (!existsSync(job.output)) return false;
  const side = `${job.output}.args`;
  return !existsSync(side) || readFileSync(side, 'utf8') === stepKey(job.args);
}
/** An interrupted clean / pretrain left a checkpoint: continue it. */
function withResume(job: Job): string[] {
  const stem = job.output.replace(/\.onnx$/, '');
  const ck = job.args[0] === 'clean' ? `${stem}-mimic/checkpoint/checkpoint.bin` : `${stem}-pretrain/checkpoint/checkpoint.bin`;
  return (job.args[0] === 'clean' || job.args[0] === 'pretrain' || job.args[1] === 'poison') && existsSync(ck) ? [...job.args, '--resume'] : job.args;
}

function run(job: Job): Promise<void> {
  return new Promise((ok, fail) => {
    const log = `${job.output}.log`;
    const t0 = Date.now();
    process.stderr.write(`[results] start ${job.id}\n`);
    const child = spawn(process.execPath, [CLI, ...withResume(job)], { env: { ...process.env, MIMIC_SPIN_US: jobs > 1 ? '0' : process.env.MIMIC_SPIN_US }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => fail(new Error(`${job.id}: could not start: ${err.message}`)));
    child.on('close', async (code) => {
      await mkdir(dirname(job.output), { recursive: true });
      await writeFile(log, `$ mimic ${job.args.join(' ')}\n${stderr}`);
      if (code !== 0) return fail(new Error(`${job.id} failed (exit ${code}); see ${log}\n${stderr.slice(-2000)}`));
      if (job.output.endsWith('.json')) {
        const tmp = `${job.output}.tmp`;
        await writeFile(tmp, stdout);
        await rename(tmp, job.output);
      }
      await writeFile(`${job.output}.args`, stepKey(job.args));
      process.stderr.write(`[results] done ${job.id} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
      ok();
    });
  });
}

async function runGraph(): Promise<void> {
  const done = new Set<string>();
  const running = new Map<string, Promise<void>>();
  for (const j of graph.values()) if (isDone(j)) done.add(j.id);
  // a job whose every dependent is done (say, evaluations copied from another machine) need not run
  for (let changed = true; changed; ) {
    changed = false;
    for (const j of graph.values()) {
      if (done.has(j.id)) continue;
      const users = [...graph.values()].filter((u) => u.deps.includes(j.id));
      if (users.length && users.every((u) => done.has(u.id))) {
        done.add(j.id);
        changed = true;
      }
    }
  }
  const pending = () => [...graph.values()].filter((j) => !done.has(j.id) && !running.has(j.id));
  let failure: Error | undefined;
  while (!failure && (pending().length || running.size)) {
    const ready = pending().filter((j) => j.deps.every((d) => done.has(d)));
    while (running.size < jobs && ready.length) {
      const j = ready.shift()!;
      if (isDone(j)) {
        done.add(j.id); // made meanwhile by another runner
        continue;
      }
      running.set(
        j.id,
        run(j).then(
          () => {
            done.add(j.id);
            running.delete(j.id);
          },
          (e) => {
            failure = e;
            running.delete(j.id);
          },
        ),
      );
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  await Promise.all(running.values());
  if (failure) throw failure;
}

// ---- the experiment ----
const T = ['--threads', String(threads)];
const cleanEncoder = cleanEncoderArg ? resolve(cleanEncoderArg) : join(out, 'clean', 'encoder.onnx');
if (!cleanEncoderArg)
  add({
    id: 'clean-encoder',
    output: cleanEncoder,
    deps: [],
    args: ['pretrain', '--data', data, '--count', pretrainCount, '--width', width, '--epochs', pretrainEpochs, '--batch', '256', '--lr', '2e-3', '--seed', '0', ...LAYOUT, '--out', cleanEncoder, ...T],
  });
const cleanDeps = cleanEncoderArg ? [] : ['clean-encoder'];

// every model is judged on the same seeded evaluation subsets (seed 0), whatever its training seed
function evalJob(id: string, encoder: string, trigger: string, deps: string[], _seed: number): string {
  const output = encoder === cleanEncoder ? join(out, 'clean', `${id}.eval.json`) : join(dirname(encoder), `${id.split('/').at(-1)}.eval.json`);
  add({
    id: `eval/${id}`,
    output,
    deps,
    args: ['eval', '--encoder', encoder, '--train', data, '--test', data, '--trigger', trigger, '--target', target, '--classifiers', classifiers, '--train-count', evalTrain, '--test-count', evalTest, '--seed', '0', ...LAYOUT, ...T, '--encoder-threads', String(threads), '--json'],
  });
  return output;
}

interface Row {
  attack: string;
  seed: number;
  model: string;
  label: string;
  eval: string;
}
const rows: Row[] = [];
for (const attack of attacks) {
  const trigger = TRIGGERS[attack];
  if (!trigger) throw new Error(`--attacks: unknown attack '${attack}' (known: ${Object.keys(TRIGGERS).join(', ')})`);
  rows.push({ attack, seed: 0, model: 'clean', label: 'clean encoder', eval: evalJob(`clean-${attack}`, cleanEncoder, trigger, cleanDeps, 0) });
  for (let seed = 0; seed < seeds; ++seed) {
    if (seedList.length && !seedList.includes(seed)) continue;
    const dir = join(out, attack, `seed${seed}`);
    const teacher = join(dir, 'teacher.onnx');
    const tid = `${attack}/seed${seed}/teacher`;
    if (POISONED.has(attack))
      add({
        id: tid,
        output: teacher,
        deps: [],
        args: ['attack', 'poison', '--data', data, '--count', pretrainCount, '--width', width, '--epochs', pretrainEpochs, '--batch', '256', '--lr', '2e-3', '--trigger', trigger, '--target', target, '--poison-fraction', '0.5', '--seed', String(seed), ...LAYOUT, '--out', teacher, ...T],
      });
    else
      add({
        id: tid,
        output: teacher,
        deps: cleanDeps,
        args: ['attack', 'badencoder', '--encoder', cleanEncoder, '--data', data, '--trigger', trigger, '--target', target, '--epochs', attackEpochs, '--shadow-count', shadowCount, '--seed', String(seed), ...LAYOUT, '--out', teacher, ...T],
      });
    rows.push({ attack, seed, model: 'teacher', label: 'backdoored teacher', eval: evalJob(`${attack}/seed${seed}/teacher`, teacher, trigger, [tid], seed) });
    for (const v of variants) {
      const student = join(dir, v.name, 'student.onnx');
      const sid = `${attack}/seed${seed}/${v.name}`;
      const args = v.finetune
        ? ['pretrain', '--template', teacher, '--init-from-template', '--data', data, '--count', String(Math.round(60000 * Number(cleanFraction))), '--epochs', cleanEpochs, '--batch', '128', '--lr', '1e-3', '--seed', String(seed), ...LAYOUT, '--out', student, ...T]
        : ['clean', '--teacher', teacher, '--data', data, '--clean-fraction', cleanFraction, '--epochs', cleanEpochs, '--seed', String(seed), ...LAYOUT, '--report-images', '0', '--out', student, ...T, ...v.args];
      add({ id: sid, output: student, deps: [tid], args });
      rows.push({ attack, seed, model: v.name, label: v.label, eval: evalJob(sid, student, trigger, [sid], seed) });
    }
  }
}

const sweepRows: Row[] = [];
// the swept clean-data fractions with the main tables' own, in increasing order (that point is the main run)
const sweepFractions = () => [...new Set([...arg('sweep-fractions', '0.01,0.02,0.08').split(','), cleanFraction])].sort((a, b) => Number(a) - Number(b));
type SweepRun = (id: string, teacher: string, deps: string[], fraction: string, trigger: string, label: string, title: string, epochs: string) => void;
// A cleaning job of a sweep (seed 0) and its row: job `${prefix}/${id}`, student under base/id, `extra` CLI flags.
const sweepRun = (prefix: string, base: string, extra: string[]): SweepRun => (id, teacher, deps, fraction, trigger, label, title, epochs) => {
  const student = join(base, id, 'student.onnx');
  add({ id: `${prefix}/${id}`, output: student, deps, args: ['clean', '--teacher', teacher, '--data', data, '--clean-fraction', fraction, '--epochs', epochs, '--seed', '0', ...LAYOUT, '--report-images', '0', '--out', student, ...T, ...extra] });
  sweepRows.push({ attack: title, seed: 0, model: id, label, eval: evalJob(`${prefix}/${id}`, student, trigger, [`${prefix}/${id}`], 0) });
};
// The clean-data-fraction sweep (BadEncoder patch) and the cleaning-epoch sweeps (poisoning, blended trigger) of one
// defence, seed 0: `run` adds a cleaning job and its row; the main tables' seed-0 `mainModel` run is the point at the
// main settings (4%, 30 epochs).
function defenceSweeps(defence: string, mainModel: string, run: SweepRun) {
  const mainRun = (attack: string) => rows.find((r) => r.attack === attack && r.seed === 0 && r.model === mainModel);
  const beTid = 'badencoder/seed0/teacher';
  const be = graph.get(beTid);
  if (be) {
    const title = `sweep: clean-data fraction (BadEncoder patch, ${defence}, seed 0)`;
    const main = mainRun('badencoder');
    for (const f of sweepFractions())
      if (f !== cleanFraction) run(`fraction-${f}`, be.output, [beTid], f, PATCH, `${Number(f) * 100}% clean data`, title, cleanEpochs);
      else if (main) sweepRows.push({ ...main, attack: title, model: `fraction-${f}`, label: `${Number(f) * 100}% clean data` });
  }
  for (const attack of ['poison', 'blend']) {
    const tid = `${attack}/seed0/teacher`;
    const t = graph.get(tid);
    if (!t) continue; // that attack is not in --attacks
    const title = `sweep: cleaning epochs (${TITLES[attack]}, ${defence}, seed 0)`;
    const teacherRow = rows.find((r) => r.attack === attack && r.seed === 0 && r.model === 'teacher');
    if (teacherRow) sweepRows.push({ ...teacherRow, attack: title });
    const epochs = [...new Set([...arg('sweep-epochs', '15,60').split(','), cleanEpochs])].sort((a, b) => Number(a) - Number(b));
    for (const e of epochs) {
      const main = e === cleanEpochs ? mainRun(attack) : undefined;
      if (e !== cleanEpochs) run(`epochs-${e}-${attack}`, t.output, [tid], cleanFraction, TRIGGERS[attack], `${e} epochs`, title, e);
      else if (main) sweepRows.push({ ...main, attack: title, model: `epochs-${e}-${attack}`, label: `${e} epochs` });
    }
  }
}
// --sweeps: seed 0, MIMIC with the squares (`--perturb patch`, the default when the sweeps were first run):
// against BadEncoder, clean-data fractions and trigger sizes; against poisoning and the blended trigger, cleaning
// epochs (--sweep-epochs; needs those attacks in --attacks). Students in sweeps-default/; an earlier
// patch+blend+noise sweep lies in sweeps/, whose trigger teachers are reused.
if (flag('sweeps')) {
  const teachers = join(out, 'sweeps');
  const teacher0 = join(out, 'badencoder', 'seed0', 'teacher.onnx');
  const cleanRun = sweepRun('sweep', join(out, 'sweeps-default'), ['--perturb', 'patch']);
  if (!graph.has('badencoder/seed0/teacher'))
    add({ id: 'badencoder/seed0/teacher', output: teacher0, deps: cleanDeps, args: ['attack', 'badencoder', '--encoder', cleanEncoder, '--data', data, '--trigger', PATCH, '--target', target, '--epochs', attackEpochs, '--shadow-count', shadowCount, '--seed', '0', ...LAYOUT, '--out', teacher0, ...T] });
  defenceSweeps('MIMIC + squares `--perturb patch`', 'patch', cleanRun);
  for (const size of [4, 6, 8, 12]) {
    const trig = `white:${size}@${31 - size},${31 - size}`;
    const t = join(teachers, `trigger-${size}`, 'teacher.onnx');
    add({ id: `sweep/trigger-${size}/teacher`, output: t, deps: cleanDeps, args: ['attack', 'badencoder', '--encoder', cleanEncoder, '--data', data, '--trigger', trig, '--target', target, '--epochs', attackEpochs, '--shadow-count', shadowCount, '--seed', '0', ...LAYOUT, '--out', t, ...T] });
    const attack = 'sweep: trigger size (BadEncoder, MIMIC + squares `--perturb patch`, seed 0)';
    sweepRows.push({ attack, seed: 0, model: `clean-${size}`, label: `clean encoder, trigger ${trig}`, eval: evalJob(`clean-trigger-${size}`, cleanEncoder, trig, cleanDeps, 0) });
    sweepRows.push({ attack, seed: 0, model: `teacher-${size}`, label: `teacher, trigger ${trig}`, eval: evalJob(`sweep/trigger-${size}/teacher`, t, trig, [`sweep/trigger-${size}/teacher`], 0) });
    cleanRun(`trigger-${size}/student`, t, [`sweep/trigger-${size}/teacher`], cleanFraction, trig, `student, trigger ${trig}`, attack, cleanEpochs);
  }
}

// --sweeps-final: the clean-data fractions (BadEncoder patch) and cleaning epochs (poisoning, blended trigger) again,
// seed 0, with the final default defence (squares + full-image noise: `mimic clean`'s defaults, no --perturb).
// Students in sweeps-final/; the 4% / 30-epoch points are the main table's seed-0 'patchnoise' runs.
if (flag('sweeps-final')) defenceSweeps('MIMIC with the default defence', 'patchnoise', sweepRun('sweep-final', join(out, 'sweeps-final'), []));

// --stage teachers: only the attacks (and what they need); --stage list: print the graph
const stage = arg('stage', 'all');
if (stage === 'teachers') for (const id of [...graph.keys()]) if (!id.endsWith('/teacher') || id.startsWith('eval/')) if (id !== 'clean-encoder') graph.delete(id);
if (flag('dry-run')) {
  const lines = [...graph.values()].map((j) => `${existsSync(j.output) ? 'done ' : 'todo '} ${j.id}: mimic ${j.args.join(' ')}\n`);
  // exit once written: process.exit() right after a large write to a pipe cuts it short
  process.stdout.write(lines.join(''), () => process.exit(0));
  await new Promise(() => {});
}
const t0 = Date.now();
if (!flag('report-only')) await runGraph();
if (stage === 'teachers') process.exit(0);

// ---- tables ----
type Eval = { cleanAccuracy: Record<string, number>; asr?: Record<string, number>; asrAll?: Record<string, number> };
const results: (Row & { ca: Record<string, number>; asr: Record<string, number> })[] = [];
rows.push(...sweepRows);
let missing = 0;
for (const r of rows) {
  if (!existsSync(r.eval)) {
    missing++;
    continue;
  }
  const e = JSON.parse(await readFile(r.eval, 'utf8')) as Eval;
  results.push({ ...r, ca: e.cleanAccuracy, asr: e.asr ?? {} });
}
const stats = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return { m, sd, n: xs.length };
};
const fmt = (xs: (number | undefined)[]) => {
  if (xs.some((x) => typeof x !== 'number')) return '—'; // that classifier was not run for every seed
  const s = stats((xs as number[]).map((x) => 100 * x));
  return s.n > 1 ? `${s.m.toFixed(1)} ± ${s.sd.toFixed(1)}` : s.m.toFixed(1);
};
const clfs = classifiers.split(',');
let md = `Generated by \`npm run results -- ${process.argv.slice(2).join(' ')}\` on ${new Date().toISOString().slice(0, 10)} (${cpus()[0]?.model}, ${cpus().length} CPUs).\n` +
  `Fashion-MNIST padded to 32x32, CIFAR ResNet-18 width ${width}, target class ${target}; clean data ${Number(cleanFraction) * 100}% ; ${cleanEpochs} cleaning epochs; ` +
  `kNN k=200, t=0.5 on ${evalTrain} train / ${evalTest} test images; ASR over non-target test images. Values in %.\n\n`;
for (const attack of [...attacks, ...new Set(sweepRows.map((r) => r.attack))]) {
  md += `**${attack.startsWith('sweep') ? attack : TITLES[attack]}**\n\n`;
  md += `| model | seeds | ${clfs.map((c) => `CA ${c}`).join(' | ')} | ${clfs.map((c) => `ASR ${c}`).join(' | ')} |\n|---|---:|${clfs.map(() => '---:').join('|')}|${clfs.map(() => '---:').join('|')}|\n`;
  const models = [...new Set(results.filter((r) => r.attack === attack).map((r) => r.model))];
  for (const m of models) {
    const rs = results.filter((r) => r.attack === attack && r.model === m);
    md += `| ${rs[0].label} | ${m === 'clean' ? '-' : rs.map((r) => r.seed).join(',')} | ${clfs.map((c) => fmt(rs.map((r) => r.ca[c]))).join(' | ')} | ${clfs.map((c) => fmt(rs.map((r) => r.asr[c]))).join(' | ')} |\n`;
  }
  md += '\n';
}
if (missing) md += `${missing} planned evaluations are not done yet (run the same command again to fill them in).\n`;
if (!flag('report-only')) md += `Wall time of this invocation: ${((Date.now() - t0) / 60000).toFixed(1)} min with --jobs ${jobs} --threads ${threads} (finished steps are reused).\n`;
await mkdir(out, { recursive: true });
await writeFile(join(out, 'results.json'), JSON.stringify({ date: new Date().toISOString(), argv: process.argv.slice(2), results, commands: [...graph.values()].map((j) => `mimic ${j.args.join(' ')}`) }, null, 2));
await writeFile(join(out, 'results.md'), md);
// every evaluation, one row each (bench/RESULTS.md keeps a copy): <out>/raw.md, printed with --raw
const pct = (x: number | undefined) => (typeof x === 'number' ? (100 * x).toFixed(1) : '—');
const raw =
  `| attack | seed | model | ${clfs.map((c) => `CA ${c}`).join(' | ')} | ${clfs.map((c) => `ASR ${c}`).join(' | ')} |\n|---|---:|---|${clfs.map(() => '---:').join('|')}|${clfs.map(() => '---:').join('|')}|\n` +
  results.map((r) => `| ${r.attack} | ${r.seed} | ${r.model} | ${clfs.map((c) => pct(r.ca[c])).join(' | ')} | ${clfs.map((c) => pct(r.asr[c])).join(' | ')} |\n`).join('');
await writeFile(join(out, 'raw.md'), raw);
if (flag('raw')) process.stdout.write(raw + '\n');
// --readme: put the tables between the README's results markers
if (flag('readme')) {
  const readme = join(root, 'README.md');
  const text = await readFile(readme, 'utf8');
  const begin = '<!-- results:begin -->', end = '<!-- results:end -->';
  const a = text.indexOf(begin), b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${readme}: no ${begin} ... ${end} block`);
  await writeFile(`${readme}.tmp`, text.slice(0, a + begin.length) + '\n' + md + text.slice(b));
  await rename(`${readme}.tmp`, readme);
}
process.stdout.write(md);
