/**
 * CUDA KDE engine benchmark (runs only where a GPU is usable): 4 layers x N x D vs a 512-d Z, 3 bandwidths,
 * I_TZ + LOO + I_up + I_low, timed end to end (host->device copies included), against PyTorch on the same GPU
 * (cdist + logsumexp, TF32 off) where torch with CUDA is installed. Run: npm run bench -- gpu
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInfo, estimateMI, writeNpy, type MIEstimate } from '../lib/index.ts';
import { gaussian } from '../lib/util/rng.ts';
import { fmt, machine, peerVersions, runPeer, table, time } from './lib/common.ts';

const L = 4, DZ = 512, FACTORS = [1 / 16, 1 / 4, 1];
const QUANT = ['I_TZ', 'I_TZ_loo', 'I_TX_up', 'I_TX_low'] as const;

export async function runGpuBench(): Promise<string> {
  const info = buildInfo();
  if (!info.gpuAvailable) return `### CUDA KDE engine\n\nskipped: no GPU here (${info.cudaMessage})`;
  const cases: [number, number][] = [[1024, 64], [1024, 1024], [4096, 64], [4096, 1024], [4096, 16384], [16384, 1024]];
  const rows: (string | number)[][] = [];
  const dir = await mkdtemp(join(tmpdir(), 'mimic-gpu-bench-'));
  try {
    for (const [n, d] of cases) {
      const layers = Array.from({ length: L }, (_, l) => ({ data: gaussian(n * d, 10 + l, 1 + l), rows: n, cols: d }));
      const features = { data: gaussian(n * DZ, 99), rows: n, cols: DZ };
      let est!: MIEstimate;
      const opts = { layers, features, quantities: [...QUANT], bandwidth: { values: FACTORS } };
      const ours = await time(`cuda ${n}x${d}`, async () => {
        est = await estimateMI({ ...opts, backend: 'cuda' });
      }, 5, 1);
      const kernelOnly = est.seconds.estimate;
      const work = 2 * n * n * (L * d + DZ);
      let torchT = NaN, note = '';
      if (n * n * 4 * 8 < 8e9) {
        const files = { layers: layers.map((_, l) => join(dir, `t${l}.npy`)), z: join(dir, 'z.npy') };
        await Promise.all(layers.map((t, l) => writeNpy(files.layers[l], t.data, [n, d])));
        await writeNpy(files.z, features.data, [n, DZ]);
        const s2 = { layers: est.layers.map((l) => l.s2), z: est.features!.s2 };
        const p = runPeer('kde_peer.py', ['torch', JSON.stringify({ files, s2, repeats: 5, threads: 1, device: 'cuda' })], {}, 'torch');
        if (p.ok) {
          torchT = p.data.median as number;
          const vals = p.data.values as Record<string, number>[][];
          let diff = 0;
          est.layers.forEach((l, li) => QUANT.forEach((q) => l.values[q]!.forEach((v, b) => (diff = Math.max(diff, Math.abs(v - vals[li][b][q]))))));
          note = `max|diff| ${diff.toExponential(1)}`;
        } else note = p.why;
      }
      rows.push([n, d, fmt(ours.median, 4), fmt(kernelOnly, 4), fmt(work / kernelOnly / 1e9, 0), fmt(torchT, 4), fmt(torchT / ours.median, 2), note]);
      process.stderr.write(`  cuda N=${n} D=${d}: ${fmt(ours.median, 4)} s\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return [
    `### CUDA KDE engine (${L} layers x N x D vs Z ${DZ}-d, 3 bandwidths; seconds, median of 5)`,
    '',
    `Machine: ${machine()}`,
    `Peers: ${peerVersions()}`,
    "'end to end' includes the scale pre-pass (CPU), centring and host->device copies; 'engine' is the estimate call;",
    'GFLOP/s = 2 N^2 (4 D + 512) / engine time.',
    '',
    table(['N', 'D', 'end to end s', 'engine s', 'GFLOP/s', 'PyTorch CUDA s', 'x PyTorch', 'check'], rows),
  ].join('\n');
}
