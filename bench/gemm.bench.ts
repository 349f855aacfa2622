/**
 * SGEMM benchmark: GFLOP/s of the engine's sgemm vs OpenBLAS (Debian numpy) in the same run, 1 thread and all
 * threads, on square and conv-shaped problems. Run: npm run bench -- gemm   (MIMIC_BENCH_QUICK=1 for a short run)
 */
import { sgemmSync, setThreads, buildInfo } from '../lib/index.ts';
import { gaussian } from '../lib/util/rng.ts';
import { fmt, machine, runPeer, table, time } from './lib/common.ts';

type Shape = { m: number; n: number; k: number; trans: 'NN' | 'NT' };
const quick = process.env.MIMIC_BENCH_QUICK === '1';
const shapes: Shape[] = [
  { m: 1024, n: 1024, k: 1024, trans: 'NN' },
  { m: 2048, n: 2048, k: 2048, trans: 'NN' },
  { m: 64, n: 32768, k: 576, trans: 'NN' },
  { m: 128, n: 8192, k: 1152, trans: 'NN' },
  { m: 256, n: 2048, k: 2304, trans: 'NN' },
  { m: 512, n: 512, k: 4608, trans: 'NN' },
  { m: 256, n: 256, k: 4096, trans: 'NT' }, // a KDE Gram tile
];

export async function runGemmBench(): Promise<string> {
  const all = buildInfo().threads;
  const threadCounts = [...new Set([1, all])];
  const reps = quick ? 3 : 7;
  const rows: (string | number)[][] = [];
  for (const s of shapes) {
    const flops = 2 * s.m * s.n * s.k;
    const a = gaussian(s.m * s.k, 1);
    const b = gaussian(s.k * s.n, 2);
    const c = new Float32Array(s.m * s.n);
    for (const threads of threadCounts) {
      setThreads(threads);
      const ours = await time(`sgemm ${s.m}x${s.n}x${s.k}`, () => sgemmSync({ m: s.m, n: s.n, k: s.k, a, b, c, transB: s.trans === 'NT', threads }), reps);
      const peer = runPeer('numpy_sgemm.py', [JSON.stringify([[s.m, s.n, s.k, s.trans]]), String(reps)], { OPENBLAS_NUM_THREADS: String(threads) }, 'numpy');
      let peerG = NaN, peerNote = '';
      if (peer.ok) {
        const r = (peer.data.results as { median_s: number }[])[0];
        peerG = flops / r.median_s / 1e9;
        peerNote = String((peer.data.blas as Record<string, unknown>)?.corename ?? '');
      } else peerNote = peer.why;
      const oursG = flops / ours.median / 1e9;
      rows.push([`${s.m}x${s.n}x${s.k} ${s.trans}`, threads, fmt(oursG), `${fmt(flops / ours.max / 1e9)}-${fmt(flops / ours.min / 1e9)}`, fmt(peerG), fmt(oursG / peerG, 2), peerNote]);
      process.stderr.write(`  sgemm ${s.m}x${s.n}x${s.k} ${s.trans} t=${threads}: ours ${fmt(oursG)} GFLOP/s, OpenBLAS ${fmt(peerG)}\n`);
    }
  }
  setThreads(0);
  return [
    `### SGEMM (GFLOP/s, median of ${reps}; range = min-max)`,
    '',
    `Machine: ${machine()}`,
    '',
    table(['shape (M x N x K)', 'threads', 'ours', 'ours range', 'OpenBLAS', 'ratio', 'OpenBLAS kernel'], rows),
  ].join('\n');
}
