/**
 * What the safe default of the async calls costs: estimateMI copies its input arrays when it is called (so that
 * the caller may transfer them at once), on the calling thread, into buffers that earlier calls' copies used
 * (CopyPool). Times the synchronous part of the call (the copy; it holds the event loop) the first time, into
 * fresh memory, and on the next calls, into reused buffers; and the whole call, copied vs borrow: true.
 * Then Optimizer.stepAsync (AdamW) over a CIFAR ResNet-18's parameters: copied (parameters and gradients copied at
 * the call, parameters written back when it settles) vs borrow: true, next to PyTorch's AdamW step on the same
 * sizes (bench/peers/torch_adamw.py) where installed.
 * Run: npm run bench -- copy
 */
import { estimateMI, Network, Optimizer } from '../lib/index.ts';
import { cifarResNet18Spec } from '../lib/train/models.ts';
import { gaussian } from '../lib/util/rng.ts';
import { fmt, machine, peerVersions, runPeer, table } from './lib/common.ts';

const SHAPES: [number, number][] = [
  [1024, 4096],
  [2048, 16384],
];
const ROUNDS = 4;

const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];

export async function runCopyBench(): Promise<string> {
  return [await estimateCopies(), '', await optimizerCopies()].join('\n');
}

async function estimateCopies(): Promise<string> {
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

const OPT_WIDTHS = [16, 64];
const OPT_ROUNDS = 9;

async function optimizerCopies(): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const width of OPT_WIDTHS) {
    const sizes = Network.create(cifarResNet18Spec({ width }), { threads: 1 }).paramViews().map((p) => p.length);
    const total = sizes.reduce((a, b) => a + b, 0);
    const params = sizes.map((n, i) => gaussian(n, 200 + i));
    const grads = sizes.map((n, i) => gaussian(n, 300 + i).map((x) => x * 1e-3));
    const opt = Optimizer.create({ kind: 'adamw', params, lr: 1e-3, threads: 1 });
    await opt.stepAsync(grads); // warm-up: the moment buffers, the copy pool
    const sync: number[] = [], copied: number[] = [], borrowed: number[] = [];
    for (let r = 0; r < OPT_ROUNDS; ++r)
      for (const borrow of [false, true]) {
        const t0 = performance.now();
        const p = opt.stepAsync(grads, { borrow });
        const t1 = performance.now();
        await p;
        const t2 = performance.now();
        if (!borrow) sync.push(t1 - t0);
        (borrow ? borrowed : copied).push((t2 - t0) / 1000);
      }
    const peer = runPeer('torch_adamw.py', [JSON.stringify({ sizes, lr: 1e-3, weight_decay: 0.01, threads: 1, repeats: OPT_ROUNDS })], {}, 'torch');
    const torchS = peer.ok ? Number(peer.data.step) : NaN;
    const [c, b] = [median(copied), median(borrowed)];
    rows.push([width, fmt(total / 1e6, 2), fmt(median(sync), 1), fmt(c * 1000, 1), fmt(b * 1000, 1), fmt(c / b, 2),
      peer.ok ? fmt(torchS * 1000, 1) : peer.why, peer.ok ? fmt(torchS / c, 2) : 'n/a', peer.ok ? fmt(torchS / b, 2) : 'n/a']);
    process.stderr.write(`  adamw width ${width}: copied ${fmt(c * 1000, 1)} ms, borrowed ${fmt(b * 1000, 1)} ms\n`);
  }
  return [
    '### Optimizer.stepAsync (AdamW, 1 thread): copied vs borrowed, and PyTorch\'s AdamW step',
    '',
    `Machine: ${machine()}; peers: ${peerVersions()}`,
    `Parameters of a CIFAR ResNet-18 of the given width. "call ms": the synchronous part of a copied call (the copies`,
    `of parameters and gradients; the event loop waits for it); "copied ms" / "borrow ms": the whole call until it`,
    `settles (copied: including the parameters' write-back on the main thread), median of ${OPT_ROUNDS}, alternating;`,
    `"PyTorch ms": torch.optim.AdamW.step() (default implementation), median of ${OPT_ROUNDS}; "x" = PyTorch / ours.`,
    '',
    table(['width', 'M params', 'call ms', 'copied ms', 'borrow ms', 'copied / borrow', 'PyTorch ms', 'x copied', 'x borrow'], rows),
  ].join('\n');
}
