/**
 * Training-step benchmark (issue #4): forward + MSE + backward + Adam of the CIFAR ResNet-18 (widths 64 and 16,
 * batch 128, 32x32) on the native engine vs PyTorch 1.13 CPU in the same run, 1 thread and all threads; the eval
 * forward (batch 64) native vs onnxruntime and PyTorch; the batch-128 step's planned memory and peak RSS. Width 16 runs
 * three rounds of ours-then-PyTorch (load bursts on the shared 2-vCPU machine otherwise fall on one side).
 * Run: npm run bench -- train    (MIMIC_BENCH_QUICK=1: width 16 only, one round; MIMIC_BENCH_WIDTHS=16: some widths)
 */
import * as ort from 'onnxruntime-node';
import { buildInfo, encodeModel, setThreads } from '../lib/index.ts';
import { convMacsPerSample } from '../lib/train/models.ts';
import { onnxFromSpec, specShapes } from '../lib/train/to-onnx.ts';
import { gaussian } from '../lib/util/rng.ts';
import { fmt, machine, peerVersions, runPeer, table, time, type PeerResult } from './lib/common.ts';
import { trainStep } from './lib/train-step.ts';

const quick = process.env.MIMIC_BENCH_QUICK === '1';

export async function runTrainBench(): Promise<string> {
  const all = buildInfo().threads;
  const threadCounts = [...new Set([1, all])];
  const only = process.env.MIMIC_BENCH_WIDTHS?.split(',').map(Number).filter((w) => w > 0);
  const widths = only?.length ? only : quick ? [16] : [64, 16];
  const trainRows: (string | number)[][] = [];
  const fwdRows: (string | number)[][] = [];
  const memRows: (string | number)[][] = [];
  for (const width of widths) {
    const batch = 128;
    for (const threads of threadCounts) {
      setThreads(threads);
      const { spec, net, step } = trainStep(width, batch, threads);
      const macs = convMacsPerSample(spec, specShapes(spec));
      const rss0 = process.memoryUsage().rss;
      const reps = width >= 64 ? 3 : 11;  // width 16 steps are short: more of them for a steadier median on 2 noisy vCPUs
      // Width 16: three rounds, ours then PyTorch in each, so that a burst of load on the shared machine lands on
      // both sides rather than on one (PyTorch's median moved 0.22-0.28 s between single runs); the medians of the
      // rounds' medians are compared, and the rounds' own ratios are shown beside.
      const rounds = width >= 64 || quick ? 1 : 3;
      const ourRounds: { median: number; min: number; max: number }[] = [], peerRounds: number[] = [];
      let peer: PeerResult = { ok: false, why: 'not run' };
      for (let r = 0; r < rounds; ++r) {
        ourRounds.push(await time(`train w${width} t${threads}`, step, reps, 1));
        peer = runPeer('torch_train.py', [JSON.stringify({ width, batch, threads, repeats: reps })], { OMP_NUM_THREADS: String(threads) }, 'torch');
        if (peer.ok) peerRounds.push(peer.data.median as number);
      }
      const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
      const ours = { median: mid(ourRounds.map((o) => o.median)), min: Math.min(...ourRounds.map((o) => o.min)), max: Math.max(...ourRounds.map((o) => o.max)) };
      const rssPeak = process.memoryUsage().rss;
      const flops = 3 * 2 * macs * batch; // forward + 2x for backward, in flops
      const pt = peerRounds.length === rounds ? mid(peerRounds) : NaN;
      const perRound = peerRounds.length === rounds ? peerRounds.map((p, r) => p / ourRounds[r].median) : [];
      const roundRange = perRound.length > 1 ? `${fmt(Math.min(...perRound), 2)}-${fmt(Math.max(...perRound), 2)}` : '';
      trainRows.push([width, threads, fmt(ours.median, 3), `${fmt(ours.min, 3)}-${fmt(ours.max, 3)}`, fmt(batch / ours.median, 1), fmt(flops / ours.median / 1e9), fmt(pt, 3), peer.ok ? fmt(pt / ours.median, 2) : peer.why, roundRange]);
      if (threads === 1) {
        const info = net.planInfo() as unknown as Record<string, number>;
        memRows.push([width, batch, fmt(net.plannedBytes() / 2 ** 20, 0), fmt(Math.max(rssPeak, rss0) / 2 ** 20, 0), peer.ok ? fmt(peer.data.peak_rss_mib as number, 0) : 'n/a', JSON.stringify(info).slice(0, 80)]);
      }
      process.stderr.write(`  train w=${width} t=${threads}: ours ${fmt(ours.median, 3)} s, torch ${fmt(pt, 3)} s\n`);

      // eval forward, batch 64: engine vs onnxruntime (the exported student) vs PyTorch
      const fb = 64;
      const xf = gaussian(fb * 3 * 32 * 32, 4);
      net.setMode('eval');
      const nat = await time(`fwd w${width}`, () => net.forward({ input: xf.slice() }), reps, 1);
      const session = await ort.InferenceSession.create(encodeModel(onnxFromSpec(spec, { params: net.getParams(), buffers: net.getBuffers(), foldBatchNorm: true })), { intraOpNumThreads: threads, interOpNumThreads: 1 });
      const feeds = { input: new ort.Tensor('float32', xf, [fb, 3, 32, 32]) };
      const ortT = await time(`ort w${width}`, () => session.run(feeds), reps, 1);
      const pf = runPeer('torch_train.py', [JSON.stringify({ width, batch: fb, threads, repeats: reps, mode: 'forward' })], { OMP_NUM_THREADS: String(threads) }, 'torch');
      fwdRows.push([width, threads, fmt(nat.median, 4), fmt(ortT.median, 4), fmt(ortT.median / nat.median, 2), pf.ok ? fmt(pf.data.median as number, 4) : pf.why]);
    }
  }
  setThreads(0);
  return [
    '### Training step: CIFAR ResNet-18, batch 128, 32x32, forward + MSE + backward + Adam (seconds, median)',
    '',
    `Machine: ${machine()}`,
    `Peers: ${peerVersions()}`,
    'GFLOP/s = 3 x 2 x conv MACs x batch / time (forward + backward); x PyTorch = PyTorch time / our time. Width 16:',
    "3 rounds (ours, then PyTorch, in each): the medians of the rounds' medians, and the rounds' own ratios.",
    '',
    table(['width', 'threads', 'ours s', 'ours range', 'images/s', 'GFLOP/s', 'PyTorch s', 'x PyTorch', 'x per round'], trainRows),
    '',
    'Eval forward, batch 64 (seconds, median): engine vs onnxruntime (the exported model, BN folded) vs PyTorch.',
    '',
    table(['width', 'threads', 'engine s', 'onnxruntime s', 'ORT / engine', 'PyTorch s'], fwdRows),
    '',
    'Memory of the batch-128 training step (1 thread): planned activation + gradient + workspace bytes of the',
    "engine, this process's RSS after the timed steps, and PyTorch's peak RSS (ru_maxrss) in its own process.",
    '',
    table(['width', 'batch', 'planned MiB', 'our RSS MiB', 'PyTorch peak RSS MiB', 'plan'], memRows),
  ].join('\n');
}
