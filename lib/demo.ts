/**
 * The built-in demo (`mimic demo`, `npm start`): a synthetic 3-layer network on Gaussian inputs, its layers
 * localised against its output features with the batched KDE estimator, and the MIMIC attention weights that
 * the MI gives. Everything is generated from the seed; nothing is downloaded.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from './native.ts';
import { estimateMI } from './mi/estimate.ts';
import { formatEstimate } from './mi/table.ts';
import { mimicBeta } from './mi/beta.ts';
import { localize, type LocalizeResult } from './mi/localize.ts';
import { formatLocalize } from './mi/localize-table.ts';
import type { ImageDataset } from './data/types.ts';
import { gaussian, mulberry32 } from './util/rng.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = join(root, 'test', 'fixtures', 'resnet18_w8.onnx');
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

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

export async function runDemo(opts: { samples: number; seed: number; json: boolean }): Promise<void> {
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
  // Part 2: the real pipeline on the committed PyTorch-exported CIFAR ResNet-18 (random weights, width 8):
  // the teacher in its onnxruntime worker, automatic stage probes, MI against its features, MIMIC weights.
  let teacher: LocalizeResult | undefined;
  if (existsSync(FIXTURE)) {
    const real = existsSync(FASHION_MNIST);
    log(`localising ${FIXTURE} on ${real ? 'Fashion-MNIST' : 'synthetic images'} (${Math.min(n, 2000)} images)...`);
    teacher = await localize({
      teacher: FIXTURE,
      data: real ? FASHION_MNIST : syntheticImages(Math.min(n, 2000), opts.seed),
      n: Math.min(n, 2000),
      seed: opts.seed,
      transform: real ? { size: 'pad', channelMode: 'convert', normalize: 'cifar10' } : { normalize: 'cifar10' },
    });
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify({ estimate: est, beta, teacher }, null, 2) + '\n');
    return;
  }
  process.stdout.write(formatEstimate(est) + '\n\n');
  process.stdout.write('MIMIC attention weights (leave-one-out I(T;Z), bandwidth factor 1/16):\n');
  est.layers.forEach((l, i) => process.stdout.write(`  ${l.name.padEnd(10)} I(T;Z) = ${mi[i].toFixed(4)}  beta = ${beta[i].toFixed(1)}\n`));
  process.stdout.write('\nThe unrelated layer gets the smallest weight.\n');
  if (teacher) process.stdout.write('\nMI localisation of a teacher encoder (mimic mi):\n' + formatLocalize(teacher) + '\n');
  process.stdout.write('\nThe backdoor-cleaning run (mimic clean) builds on these pieces and is not implemented yet.\n');
}
