/**
 * The built-in demo (`mimic demo`, `npm start`): a synthetic 3-layer network on Gaussian inputs, its layers
 * localised against its output features with the batched KDE estimator, and the MIMIC attention weights that
 * the MI gives. Everything is generated from the seed; nothing is downloaded.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from './native.ts';
import { estimateMI } from './mi/estimate.ts';
import { formatEstimate } from './mi/table.ts';
import { mimicBeta } from './mi/beta.ts';
import { clean, type CleanProgress, type CleanResult } from './train/clean.ts';
import { evaluate } from './eval/evaluate.ts';
import { openDataset } from './data/open.ts';
import type { ImageDataset } from './data/types.ts';
import { gaussian, mulberry32 } from './util/rng.ts';
import { sha256File } from './report/provenance.ts';
import { writeReport } from './report/write.ts';
import type { CleanReport as HtmlReport, ReportEvaluation } from './report/html.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = join(root, 'test', 'fixtures', 'resnet18_w8.onnx');
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
const DEMO_DIR = join(root, 'test', 'fixtures', 'demo');
const DEMO_CLEAN = join(DEMO_DIR, 'clean-w8.onnx');
const DEMO_TEACHER = join(DEMO_DIR, 'badencoder-w8.onnx');
const DEMO_PROVENANCE = join(DEMO_DIR, 'badencoder-w8.report.json');

interface DemoRow {
  model: string;
  file: string;
  cleanAccuracy: number;
  asr: number;
}

/** Seeded smooth random RGB images, for when no real dataset is installed. */
function syntheticImages(n: number, seed: number): ImageDataset {
  const r = mulberry32(seed);
  const pixels = new Uint8Array(n * 3 * 32 * 32);
  for (let i = 0; i < n; ++i) {
    const gx = r() * 2 - 1, gy = r() * 2 - 1;
    for (let c = 0; c < 3; ++c) {
      const b = r();
      for (let p = 0; p < 1024; ++p) {
        const v = 128 + 100 * (gx * ((p % 32) / 32 - 0.5) + gy * (Math.floor(p / 32) / 32 - 0.5) + (b - 0.5)) + 20 * (r() - 0.5);
        pixels[(i * 3 + c) * 1024 + p] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { name: 'synthetic', count: n, channels: 3, height: 32, width: 32, pixels, source: `synthetic images (seed ${seed})` };
}

async function dense(x: Float32Array, n: number, din: number, dout: number, seed: number, act: (v: number) => number) {
  const w = gaussian(din * dout, seed, 1 / Math.sqrt(din));
  const y = new Float32Array(n * dout);
  await native().sgemmAsync({ m: n, n: dout, k: din, a: x, b: w, c: y });
  for (let i = 0; i < y.length; ++i) y[i] = act(y[i]);
  return y;
}

const relu = (v: number) => (v > 0 ? v : 0);

export async function runDemo(opts: { samples: number; seed: number; json: boolean; epochs: number; outDir: string; faithful?: boolean; evalTrain?: number; evalTest?: number }): Promise<void> {
  const n = opts.samples;
  const log = (s: string) => process.stderr.write(s + '\n');
  const info = native().buildInfo();
  log(`mimic demo: ${n} samples, CPU kernels ${info.kernelPath}, ${info.threads} threads, GPU ${info.gpuAvailable ? info.gpuName : 'none'}`);
  const x = gaussian(n * 64, opts.seed);
  const t1 = await dense(x, n, 64, 256, opts.seed + 1, relu);
  const t2 = await dense(t1, n, 256, 128, opts.seed + 2, relu);
  const t3 = await dense(t2, n, 128, 64, opts.seed + 3, Math.tanh);
  const z = await dense(t3, n, 64, 32, opts.seed + 4, (v) => v);
  for (let i = 0; i < n; ++i) {
    let s = 0;
    for (let k = 0; k < 32; ++k) s += z[i * 32 + k] ** 2;
    const inv = 1 / Math.sqrt(s + 1e-12);
    for (let k = 0; k < 32; ++k) z[i * 32 + k] *= inv;
  }
  const noise = gaussian(n * 128, opts.seed + 99);
  const est = await estimateMI({
    layers: [
      { data: t1, rows: n, cols: 256, name: 'stage1' },
      { data: t2, rows: n, cols: 128, name: 'stage2' },
      { data: t3, rows: n, cols: 64, name: 'stage3' },
      { data: noise, rows: n, cols: 128, name: 'unrelated' },
    ],
    features: { data: z, rows: n, cols: 32, name: 'Z' },
    bandwidth: { values: [1 / 16, 1 / 4, 1] },
    quantities: ['I_TZ', 'I_TZ_loo', 'I_TX_up', 'I_TX_low', 'CKA'],
  });
  // MIMIC's weights: beta_l = 1000 + 10000 * MI_l / sum MI, from the leave-one-out estimate at the smallest
  // bandwidth (the resubstitution estimate is biased up by the same amount for every layer there); negative -> 0.
  const mi = est.layers.map((l) => Math.max(0, l.values.I_TZ_loo![0]));
  const beta = mimicBeta(mi);
  // Part 2: removing a real backdoor. The committed BadEncoder teacher (test/fixtures/demo, made by `mimic attack
  // badencoder` from the committed clean encoder) is evaluated, cleaned with MIMIC's defaults on 4% of Fashion-MNIST
  // (no labels), and the student evaluated: clean accuracy and attack success rate by weighted kNN, before and after.
  let cleaning: CleanResult | undefined;
  let evaluation: DemoRow[] | undefined;
  const real = existsSync(FASHION_MNIST);
  const outDir = resolve(opts.outDir);
  const layout = { size: 'pad', channelMode: 'convert', normalize: 'cifar10' } as const;
  const progress = (p: CleanProgress) => {
    if (p.phase === 'train' && p.epochDone)
      log(`  epoch ${p.epoch}/${p.epochs}: mean loss ${p.epochMean?.total.toFixed(4)} (contrastive ${p.epochMean?.contrastive.toFixed(4)}, attention ${p.epochMean?.attention.toFixed(4)}, clone ${p.epochMean?.clone.toFixed(4)})`);
  };
  if (real && existsSync(DEMO_TEACHER)) {
    const provenance = JSON.parse(await readFile(DEMO_PROVENANCE, 'utf8')) as { trigger: string; target: number };
    const [train, test] = await Promise.all([openDataset(FASHION_MNIST, { split: 'train' }), openDataset(FASHION_MNIST, { split: 'test' })]);
    const judge = async (encoder: string, label: string): Promise<DemoRow> => {
      const e = await evaluate({ encoder, train, test, trigger: provenance.trigger, target: provenance.target, classifiers: ['knn'], trainCount: opts.evalTrain, testCount: opts.evalTest, seed: opts.seed, ...layout });
      log(`  ${label}: CA ${(100 * e.cleanAccuracy.knn!).toFixed(1)}%, ASR ${(100 * e.asr!.knn!).toFixed(1)}%`);
      return { model: label, file: encoder, cleanAccuracy: e.cleanAccuracy.knn!, asr: e.asr!.knn! };
    };
    log(`evaluating the committed encoders (kNN on ${opts.evalTrain} train / ${opts.evalTest} test images; trigger ${provenance.trigger} -> class ${provenance.target})`);
    evaluation = [await judge(DEMO_CLEAN, 'clean encoder (reference)'), await judge(DEMO_TEACHER, 'backdoored teacher (BadEncoder)')];
    log(`cleaning ${DEMO_TEACHER} with 4% of Fashion-MNIST (unlabelled), ${opts.epochs} epochs -> ${outDir}`);
    cleaning = await clean(
      { teacher: DEMO_TEACHER, data: train, cleanFraction: 0.04, epochs: opts.epochs, seed: opts.seed, out: join(outDir, 'student.onnx'), outDir, transform: layout, evalTrigger: provenance.trigger, faithful: opts.faithful, restart: true },
      { onProgress: progress },
    );
    evaluation.push(await judge(cleaning.outputs.student, `MIMIC student${opts.faithful ? ' (--faithful)' : ''}`));
    const rows = await Promise.all(evaluation.map(async (r) => ({ ...r, sha256: await sha256File(r.file) })));
    const evaluated: ReportEvaluation = { classifier: 'weighted kNN (k 200, t 0.5)', trigger: provenance.trigger, target: provenance.target, trainCount: opts.evalTrain, testCount: opts.evalTest, asrOver: 'triggered non-target test images', rows };
    await writeFile(join(outDir, 'evaluation.json'), JSON.stringify(evaluated, null, 2) + '\n');
    // the report, with the evaluation in it (written again, atomically)
    await writeReport({ ...(JSON.parse(await readFile(cleaning.outputs.report, 'utf8')) as HtmlReport), evaluation: evaluated }, cleaning.outDir);
  } else {
    if (!real) log(`Fashion-MNIST is not installed (${FASHION_MNIST}): install it with 'sudo apt-get install dataset-fashion-mnist' for the backdoor-removal demo; cleaning the random-weight fixture on synthetic images instead`);
    cleaning = await clean(
      { teacher: FIXTURE, data: syntheticImages(Math.min(n, 2000), opts.seed), cleanCount: Math.min(n, 2000), epochs: Math.min(opts.epochs, 2), seed: opts.seed, out: join(outDir, 'student.onnx'), outDir, transform: { normalize: 'cifar10' }, restart: true },
      { onProgress: progress },
    );
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify({ estimate: est, beta, cleaning, evaluation }, null, 2) + '\n');
    return;
  }
  process.stdout.write(formatEstimate(est) + '\n\n');
  process.stdout.write('MIMIC attention weights (leave-one-out I(T;Z), bandwidth factor 1/16):\n');
  est.layers.forEach((l, i) => process.stdout.write(`  ${l.name.padEnd(10)} I(T;Z) = ${mi[i].toFixed(4)}  beta = ${beta[i].toFixed(1)}\n`));
  process.stdout.write('\nThe unrelated layer gets the smallest weight.\n');
  if (cleaning) {
    const last = cleaning.epochs[cleaning.epochs.length - 1];
    process.stdout.write(
      `\nMIMIC cleaning run (mimic clean) of ${cleaning.teacher.path}:\n` +
        `  clean subset: ${cleaning.data.manifest.selected} of ${cleaning.data.manifest.count} images (seed ${cleaning.seed}), no labels used\n` +
        `  defence: ${cleaning.config.faithful ? 'faithful (published method)' : 'perturbation-invariant distillation (default)'}; probes and weights: ${cleaning.teacher.probes.map((p, i) => `${p.name} beta ${cleaning!.beta[i].toFixed(0)}`).join('; ')}\n` +
        `  final epoch: mean loss ${last.total.toFixed(4)} (contrastive ${last.contrastive.toFixed(4)}, attention ${last.attention.toFixed(4)}, clone ${last.clone.toFixed(4)})\n` +
        `  student: ${cleaning.outputs.student}\n  report:  ${join(cleaning.outDir, 'report.html')} (and report.json)\n` +
        `  cleaning time: ${cleaning.timings.total.toFixed(1)} s\n`,
    );
  }
  if (evaluation) {
    process.stdout.write('\nBefore / after (weighted kNN, k 200, t 0.5; ASR over non-target test images):\n');
    process.stdout.write(`  ${'model'.padEnd(34)} ${'CA %'.padStart(6)} ${'ASR %'.padStart(6)}\n`);
    for (const r of evaluation) process.stdout.write(`  ${r.model.padEnd(34)} ${(100 * r.cleanAccuracy).toFixed(1).padStart(6)} ${(100 * r.asr).toFixed(1).padStart(6)}\n`);
  }
}
