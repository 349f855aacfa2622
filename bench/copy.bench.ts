/**
 * What the safe default of the async calls costs: estimateMI copies its input arrays when it is called (so that
 * the caller may transfer them at once), on the calling thread, into buffers that earlier calls' copies used
 * (CopyPool). Times the synchronous part of the call (the copy; it holds the event loop) the first time, into
 * fresh memory, and on the next calls, into reused buffers; and the whole call, copied vs borrow: true.
 * Run: npm run bench -- copy
 */
import { estimateMI } from '../lib/index.ts';
import { gaussian } from '../lib/util/rng.ts';
import { fmt, machine, table } from './lib/common.ts';

const SHAPES: [number, number][] = [
  [1024, 4096],
  [2048, 16384],
];
const ROUNDS = 4;

export async function runCopyBench(): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const [n, d] of SHAPES) {
    const layers = Array.from({ length: 4 }, (_, l) => ({ data: gaussian(n * d, 10 + l), rows: n, cols: d }));
    const features = { data: gaussian(n * 512, 99), rows: n, cols: 512 };
    const mb = (4 * n * d + n * 512) * 4 / 2 ** 20;
    const sync: number[] = [], copied: number[] = [], borrowed: number[] = [];
    for (let r = 0; r < ROUNDS; ++r)
      for (const borrow of [false, true]) {
        const t0 = performance.now();
        const p = estimateMI({ layers, features, quantities: ['I_TZ', 'I_TZ_loo'], bandwidth: { values: [1 / 16, 1 / 4, 1] }, threads: 1, backend: 'cpu', borrow });
        const t1 = performance.now();
        await p;
        const t2 = performance.now();
        if (!borrow) sync.push(t1 - t0);
        (borrow ? borrowed : copied).push((t2 - t0) / 1000);
      }
    const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
    const reused = median(sync.slice(1));
    rows.push([n, d, fmt(mb, 0), fmt(sync[0], 0), fmt(reused, 0), fmt(mb / 1024 / (reused / 1000), 1), fmt(median(copied), 3), fmt(median(borrowed), 3)]);
    process.stderr.write(`  copy N=${n} D=${d}: first ${fmt(sync[0], 0)} ms, reused ${fmt(reused, 0)} ms\n`);
  }
  return [
    '### Input copies of the async calls (estimateMI, 4 layers N x D + a 512-d Z, 1 thread)',
    '',
    `Machine: ${machine()}`,
    `"first": the first call's copy, into fresh memory; "reused": the median of the next ${ROUNDS - 1} (buffers from the`,
    'pool); both are the synchronous part of the call (the event loop waits for it). "copied s" / "borrow s": the',
    `whole call, median of ${ROUNDS}, with the default copy and with borrow: true, alternating.`,
    '',
    table(['N', 'D', 'input MB', 'first copy ms', 'reused copy ms', 'reused GB/s', 'copied s', 'borrow s'], rows),
  ].join('\n');
}
