/**
 * The event loop of a service embedding the library: the worst gap of a 1 ms interval timer while the library
 * works (what a request arriving then waits), and how long an aborted estimateMI takes to reject and to free the
 * thread pool. No peer: the figures are a property of the Node integration (PyTorch has no event loop to hold).
 * Run: npm run bench -- service
 */
import { estimateMI, fitMlp, setThreads, sgemm } from '../lib/index.ts';
import { gaussian } from '../lib/util/rng.ts';
import { fmt, machine, table } from './lib/common.ts';

/** Worst gap (ms) of a 1 ms setInterval while `work` runs, and the work's wall time (ms). */
async function worstGap(work: () => Promise<unknown>): Promise<{ gap: number; ms: number }> {
  let last = performance.now(), gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  clearInterval(timer);
  return { gap, ms };
}

// Inputs made before any timing (drawing them is JavaScript work on the loop).
const N = 12000, DL = 512;
const layer = gaussian(N * DL, 1), feats = gaussian(N * 16, 2);
const mi = (signal?: AbortSignal) => estimateMI({ layers: [{ data: layer, rows: N, cols: DL }], features: { data: feats, rows: N, cols: 16 }, threads: 0, signal });
const gemmInputs = Array.from({ length: 16 }, (_, i) => ({ a: gaussian(512 * 512, 10 + i), b: gaussian(512 * 512, 40 + i) }));

export async function runServiceBench(): Promise<string> {
  setThreads(0);
  const R = 20000, D = 512;
  const train = { data: gaussian(R * D, 7), rows: R, cols: D, labels: Int32Array.from({ length: R }, (_, i) => i % 10) };
  const rows: (string | number)[][] = [];
  const add = (what: string, r: { gap: number; ms: number }) => {
    rows.push([what, fmt(r.ms, 0), fmt(r.gap, 1)]);
    process.stderr.write(`  ${what}: ${fmt(r.ms, 0)} ms, worst gap ${fmt(r.gap, 1)} ms\n`);
  };
  add(`estimateMI, N ${N}, D ${DL} (pool; inputs copied at the call)`, await worstGap(() => mi()));
  add(`fitMlp ${R} x ${D}, 2 epochs`, await worstGap(() => fitMlp(train, { epochs: 2 })));
  add(`fitMlp ${R} x ${D}, 2 epochs, beside that estimateMI`, await worstGap(() => Promise.all([mi(), fitMlp(train, { epochs: 2 })])));
  add('setThreads(1) then setThreads(0) while that estimateMI runs', await worstGap(async () => {
    const p = mi();
    await new Promise((r) => setTimeout(r, 50));
    setThreads(1);
    setThreads(0);
    await p;
  }));
  add('16 concurrent sgemm 512^3 (pool)', await worstGap(() => Promise.all(gemmInputs.map(({ a, b }) => sgemm({ m: 512, n: 512, k: 512, a, b, c: new Float32Array(512 * 512) })))));

  // abort: how soon the promise rejects, and how long a call made right after it takes (vs alone)
  const alone = (await worstGap(() => mi())).ms;
  const ac = new AbortController();
  const pending = mi(ac.signal).catch(() => null);
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  ac.abort();
  await pending;
  const rejected = performance.now() - t0;
  const next = (await worstGap(() => mi())).ms;
  return [
    '### The event loop under load (`npm run bench -- service`)',
    '',
    `Machine: ${machine()}; no peer (a property of the Node integration). "worst gap": the longest wait of a 1 ms`,
    'interval timer while the work ran, what a request arriving then would wait.',
    '',
    table(['work', 'wall ms', 'worst gap ms'], rows),
    '',
    `Abort of an estimateMI (N ${N}, D ${DL}) 50 ms into it: rejected ${fmt(rejected, 1)} ms after abort(); the next call`,
    `took ${fmt(next, 0)} ms (alone: ${fmt(alone, 0)} ms): its tiles stopped, the pool was free.`,
  ].join('\n');
}
