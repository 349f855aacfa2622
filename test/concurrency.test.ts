// The engine's one thread pool under a service's concurrent calls: setThreads() while calls run (it used to
// deadlock the process: a lock-order cycle with a running region, or a region waiting for workers a resize had
// removed), the main thread's synchronous calls while another call holds the pool (they used to wait for the whole
// region: the event loop froze for seconds), and an aborted estimateMI (it used to run to its end).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateMI, MimicError, setThreads, sgemm, sgemmSync, type MIEstimate } from '../lib/index.ts';
import { freshSeed, randomUniform as random } from './helpers.ts';

/** `p`, or a failure after `ms` (a hang must fail the test, not the run). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('setThreads() while an estimateMI runs returns at once and the estimate is unchanged', async () => {
  const seed = freshSeed('setThreads during estimateMI');
  const N = 6000, D = 256;
  const req = () => ({ layers: [{ data: random(N * D, seed), rows: N, cols: D }], features: { data: random(N * 16, seed + 1), rows: N, cols: 16 } });
  setThreads(2);
  const quiet = await estimateMI(req());
  const pending = estimateMI(req());
  await sleep(20);
  const t0 = performance.now();
  setThreads(1);
  setThreads(3);
  const held = performance.now() - t0;
  const moved = await within(pending, 60_000, 'estimateMI after setThreads');
  setThreads(2);
  assert.ok(held < 50, `setThreads held the event loop ${held.toFixed(0)} ms`);
  sameEstimate(moved, quiet);
});

/** Equal but for the order of the threads' float64 merges. */
function sameEstimate(a: MIEstimate, b: MIEstimate): void {
  for (const [l, layer] of a.layers.entries())
    for (const q of Object.keys(layer.values) as (keyof typeof layer.values)[])
      layer.values[q]!.forEach((v, k) => assert.ok(Math.abs(v - b.layers[l].values[q]![k]) <= 1e-9 * Math.max(1, Math.abs(v)), `${q}[${k}]: ${v} vs ${b.layers[l].values[q]![k]}`));
}

test('sgemm calls queued while setThreads() toggles the pool size all settle with the right product', async () => {
  const seed = freshSeed('setThreads toggling');
  const m = 300, n = 300, k = 300;
  const a = random(m * k, seed), b = random(k * n, seed + 1);
  const ref = new Float32Array(m * n);
  sgemmSync({ m, n, k, a, b, c: ref, threads: 1 });
  const calls: Promise<Float32Array>[] = [];
  const stop = performance.now() + 1500;
  for (let flip = 0; performance.now() < stop; ++flip) {
    for (let i = 0; i < 3; ++i) {
      const c = new Float32Array(m * n);
      calls.push(sgemm({ m, n, k, a, b, c, threads: 0 }).then(() => c));
    }
    await sleep(1);
    setThreads(flip % 2 ? 4 : 1);
  }
  const results = await within(Promise.all(calls), 60_000, `${calls.length} sgemm calls`);
  setThreads(2);
  let worst = 0;
  for (const c of results) for (let i = 0; i < c.length; ++i) worst = Math.max(worst, Math.abs(c[i] - ref[i]));
  assert.ok(worst < 1e-3, `max |c - ref| = ${worst}`);
});

test('a synchronous call on the main thread does not wait for another call\'s region: it runs alone', async () => {
  const seed = freshSeed('main thread vs running region');
  setThreads(2);
  const N = 12000, D = 256;
  const long = estimateMI({ layers: [{ data: random(N * D, seed), rows: N, cols: D }], threads: 2 });
  await sleep(30);
  const m = 256, n = 256, k = 256;
  const a = random(m * k, seed + 1), b = random(k * n, seed + 2);
  const c = new Float32Array(m * n), ref = new Float32Array(m * n);
  const t0 = performance.now();
  sgemmSync({ m, n, k, a, b, c, threads: 0 }); // wants the pool, which the estimate holds
  const held = performance.now() - t0;
  const t1 = performance.now();
  await long;
  const rest = performance.now() - t1;
  sgemmSync({ m, n, k, a, b, c: ref, threads: 1 });
  assert.deepEqual(c, ref, 'run alone: the single-thread product');
  assert.ok(rest > 100, `the estimate ended too soon (${rest.toFixed(0)} ms after) for the check to mean anything`);
  assert.ok(held < 100, `sgemmSync held the main thread ${held.toFixed(0)} ms while the estimate ran ${rest.toFixed(0)} ms more`);
});

test('an aborted estimateMI rejects at once and frees the pool: the next call does not wait for its work', async () => {
  const seed = freshSeed('abort estimateMI');
  setThreads(2);
  const N = 10000, D = 128;
  const req = (s: number, signal?: AbortSignal) => ({ layers: [{ data: random(N * D, s), rows: N, cols: D }], features: { data: random(N * 16, s + 1), rows: N, cols: 16 }, signal, threads: 2 });
  const [first, toAbort, next] = [req(seed + 10), req(seed, undefined), req(seed + 10)];
  const t0 = performance.now();
  const alone = await estimateMI(first);
  const full = performance.now() - t0;
  const ac = new AbortController();
  const aborted = estimateMI({ ...toAbort, signal: ac.signal });
  await sleep(40);
  const t1 = performance.now();
  ac.abort(new Error('client went away'));
  await assert.rejects(aborted, (e: unknown) => e instanceof MimicError && e.code === 'E_ABORTED' && /client went away/.test(e.message));
  const rejectedAfter = performance.now() - t1;
  // the pool: free as soon as the aborted call's threads see the flag (else this call waits for its whole region)
  const t2 = performance.now();
  const b = await estimateMI(next);
  const nextTook = performance.now() - t2;
  assert.ok(rejectedAfter < 50, `rejected ${rejectedAfter.toFixed(0)} ms after abort()`);
  sameEstimate(b, alone); // (2 threads: tiles merge in any order)
  assert.ok(nextTook < 1.5 * full, `the next call took ${nextTook.toFixed(0)} ms (one estimate: ${full.toFixed(0)} ms)`);
});
