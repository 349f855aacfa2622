/**
 * Batched KDE MI benchmark: 4 layers (N x D) against a 512-d Z, bandwidth factors 1/16, 1/4, 1, quantities I_TZ,
 * I_TZ_loo, I_TX_up, I_TX_low. The engine vs PyTorch (torch.cdist + logsumexp) and NumPy/OpenBLAS (Gram +
 * log-sum-exp) on the SAME arrays and bandwidths, 1 thread and all threads, values cross-checked. Also the rate
 * of the engine's GEMM part vs plain sgemm on the tile shape. Run: npm run bench -- kde
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInfo, estimateMI, setThreads, sgemmSync, writeNpy, type MIEstimate } from '../lib/index.ts';
import { gaussian } from '../lib/util/rng.ts';
import { fmt, machine, peerVersions, runPeer, table, time } from './lib/common.ts';

const quick = process.env.MIMIC_BENCH_QUICK === '1';
const NS = quick ? [1024] : [1024, 4096];
const DS = quick ? [64, 1024] : [64, 1024, 16384];
const L = 4, DZ = 512, FACTORS = [1 / 16, 1 / 4, 1];
const QUANT = ['I_TZ', 'I_TZ_loo', 'I_TX_up', 'I_TX_low'] as const;

/** Plain sgemm rate (1 thread) on the engine's Gram tile shape: tile x tile x d, NT. */
function sgemmTileRate(tile: number, d: number): number {
  const a = gaussian(tile * d, 1), b = gaussian(tile * d, 2), c = new Float32Array(tile * tile);
  const flops = 2 * tile * tile * d;
  const reps = Math.max(3, Math.min(200, Math.round(2e9 / flops)));
  sgemmSync({ m: tile, n: tile, k: d, a, b, c, transB: true, threads: 1 });
  const t0 = performance.now();
  for (let r = 0; r < reps; ++r) sgemmSync({ m: tile, n: tile, k: d, a, b, c, transB: true, threads: 1 });
  return (flops * reps) / ((performance.now() - t0) / 1000) / 1e9;
}

export async function runKdeBench(): Promise<string> {
  const all = buildInfo().threads;
  const threadCounts = [...new Set([1, all])];
  const rows: (string | number)[][] = [];
  const gemmRows: (string | number)[][] = [];
  const dir = await mkdtemp(join(tmpdir(), 'mimic-kde-bench-'));
  try {
    for (const n of NS)
      for (const d of DS) {
        const layers = Array.from({ length: L }, (_, l) => ({ data: gaussian(n * d, 10 + l, 1 + l), rows: n, cols: d, name: `T${l}` }));
        const features = { data: gaussian(n * DZ, 99), rows: n, cols: DZ, name: 'Z' };
        const files = { layers: layers.map((_, l) => join(dir, `t${l}.npy`)), z: join(dir, 'z.npy') };
        await Promise.all(layers.map((t, l) => writeNpy(files.layers[l], t.data, [n, d])));
        await writeNpy(files.z, features.data, [n, DZ]);
        const work = 2 * n * n * (L * d + DZ); // distance flops of a full-square method (the peers' work)
        const big = n * n * d * L > 5e10;
        const reps = big ? 2 : quick ? 3 : 5;
        for (const threads of threadCounts) {
          setThreads(threads);
          let est!: MIEstimate;
          const run = async (borrow: boolean) => {
            est = await estimateMI({ layers, features, quantities: [...QUANT], bandwidth: { values: FACTORS }, threads, backend: 'cpu', borrow });
          };
          // the call as written (its inputs copied when it is made), and borrowing them (no copies: the caller
          // promises not to transfer them until it settles)
          const ours = await time(`kde ${n}x${d}`, () => run(false), reps, big ? 0 : 1);
          const borrowed = await time(`kde ${n}x${d} borrow`, () => run(true), reps, big ? 0 : 1);
          const s2 = { layers: est.layers.map((l) => l.s2), z: est.features!.s2 };
          const peerRow = (lib: 'torch' | 'numpy', module: string) => {
            const spec = { files, s2, repeats: reps, threads };
            const p = runPeer('kde_peer.py', [lib, JSON.stringify(spec)], { OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) }, module);
            if (!p.ok) return { t: NaN, diff: NaN, note: p.why };
            const vals = p.data.values as Record<string, number>[][];
            let diff = 0;
            est.layers.forEach((l, li) => QUANT.forEach((q) => l.values[q]!.forEach((v, b) => (diff = Math.max(diff, Math.abs(v - vals[li][b][q]))))));
            return { t: p.data.median as number, diff, note: '' };
          };
          const torch = peerRow('torch', 'torch');
          const np = peerRow('numpy', 'numpy');
          rows.push([n, d, threads, fmt(ours.median, 3), `${fmt(ours.min, 3)}-${fmt(ours.max, 3)}`, fmt(borrowed.median, 3), fmt(work / ours.median / 1e9),
            fmt(torch.t, 3), fmt(torch.t / ours.median, 2), fmt(np.t, 3), fmt(np.t / ours.median, 2),
            Number.isFinite(torch.diff) ? torch.diff.toExponential(1) : torch.note]);
          process.stderr.write(`  kde N=${n} D=${d} t=${threads}: ours ${fmt(ours.median, 3)} s, torch ${fmt(torch.t, 3)} s, numpy ${fmt(np.t, 3)} s\n`);
          if (threads === 1 && d >= 1024) {
            const inEngine = est.work.gemmFlops / est.work.gemmThreadSeconds / 1e9;
            const plain = sgemmTileRate(est.work.tile, d);
            gemmRows.push([n, d, est.work.tile, fmt(inEngine), fmt(plain), `${fmt((100 * inEngine) / plain, 0)}%`, `${fmt((100 * est.work.gemmThreadSeconds) / (est.work.gemmThreadSeconds + est.work.epilogueThreadSeconds), 0)}%`]);
          }
        }
      }
  } finally {
    setThreads(0);
    await rm(dir, { recursive: true, force: true });
  }
  return [
    `### Batched KDE MI (${L} layers x N x D vs Z ${DZ}-d, 3 bandwidths, I_TZ + LOO + I_up + I_low; seconds, median)`,
    '',
    `Machine: ${machine()}`,
    `Peers: ${peerVersions()}`,
    'GFLOP/s = 2 N^2 (4 D + 512) / time: the distance work of a full-square method (the engine does half by symmetry).',
    'Speed-up = peer time / our time, same arrays, same bandwidths, same thread count; max|diff| = largest difference',
    'of any reported value between the engine and PyTorch. "ours s": estimateMI as called by default (its input',
    'arrays copied at the call, so that the caller may transfer them at once); "borrow s": with borrow: true (read in',
    'place); the peers read their arrays in place.',
    '',
    table(['N', 'D', 'threads', 'ours s', 'ours range', 'borrow s', 'GFLOP/s', 'PyTorch s', 'x PyTorch', 'NumPy s', 'x NumPy', 'max|diff| vs torch'], rows),
    '',
    'GEMM part of the engine (1 thread) vs plain sgemm on the same tile shape (tile x tile x D, NT):',
    '',
    table(['N', 'D', 'tile', 'in-engine GFLOP/s', 'sgemm GFLOP/s', 'ratio', 'GEMM share of time'], gemmRows),
  ].join('\n');
}
