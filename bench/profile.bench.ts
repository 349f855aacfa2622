/**
 * Where a training step's time goes (issue #4's remaining gap): the CIFAR ResNet-18 step (forward + MSE + backward
 * + Adam, 32x32) with per-layer profiling on (Network.setProfiling), 1 thread, as milliseconds per step by op type
 * and by convolution layer. Configurations: width 16 at batch 128 (the issue-#4 benchmark) and width 8 at batch 256
 * (the MIMIC student: both views of a 128-image batch). PyTorch 1.13's whole step on the same architecture and
 * batch is measured in the same run for scale.
 * Run: npm run bench -- profile      (MIMIC_BENCH_QUICK=1: width 16 only, fewer steps)
 */
import { setThreads, type LayerTiming } from '../lib/index.ts';
import { fmt, machine, peerVersions, runPeer, table } from './lib/common.ts';
import { trainStep } from './lib/train-step.ts';

const quick = process.env.MIMIC_BENCH_QUICK === '1';

function profileStep(width: number, batch: number, steps: number): { wall: number; timings: LayerTiming[] } {
  const { net, step } = trainStep(width, batch, 1);
  step(); // plans memory, warms caches
  net.setProfiling(true);
  const t0 = performance.now();
  for (let s = 0; s < steps; ++s) step();
  const wall = (performance.now() - t0) / 1000 / steps;
  net.setProfiling(false);
  return { wall, timings: net.layerTimings() };
}

const ms = (seconds: number, steps: number) => fmt((1000 * seconds) / steps, 1);

export async function runProfileBench(): Promise<string> {
  setThreads(1);
  const configs = quick ? [{ width: 16, batch: 128 }] : [{ width: 16, batch: 128 }, { width: 8, batch: 256 }];
  const steps = quick ? 2 : 6;
  const parts: string[] = [`Machine: ${machine()}`, `Peers: ${peerVersions()}`, ''];
  for (const { width, batch } of configs) {
    const { wall, timings } = profileStep(width, batch, steps);
    const peer = runPeer('torch_train.py', [JSON.stringify({ width, batch, threads: 1, repeats: 3 })], { OMP_NUM_THREADS: '1' }, 'torch');
    const pt = peer.ok ? fmt(peer.data.median as number, 3) + ' s' : peer.why;
    process.stderr.write(`  profile w=${width} b=${batch}: ${fmt(wall, 3)} s per step (PyTorch ${pt})\n`);
    const byOp = new Map<string, { f: number; b: number; n: number }>();
    for (const t of timings) {
      const e = byOp.get(t.op) ?? { f: 0, b: 0, n: 0 };
      e.f += t.forwardSeconds;
      e.b += t.backwardSeconds;
      e.n += 1;
      byOp.set(t.op, e);
    }
    const inLayers = timings.reduce((s, t) => s + t.forwardSeconds + t.backwardSeconds, 0) / steps;
    const opRows = [...byOp.entries()]
      .sort((a, b) => b[1].f + b[1].b - (a[1].f + a[1].b))
      .map(([op, e]) => [op, e.n, ms(e.f, steps), ms(e.b, steps), fmt((100 * (e.f + e.b)) / steps / wall, 1)]);
    opRows.push(['(outside layers: loss, Adam, copies)', '', '', '', fmt((100 * (wall - inLayers)) / wall, 1)]);
    const convRows = timings
      .filter((t) => t.op === 'Conv')
      .map((t) => [t.name, `${t.inputShape.slice(1).join('x')} -> ${t.outputShape.slice(1).join('x')}`, ms(t.forwardSeconds, steps), ms(t.backwardSeconds, steps)]);
    parts.push(
      `#### Width ${width}, batch ${batch}, 1 thread: ${fmt(1000 * wall, 1)} ms per step (PyTorch: ${pt} per step)`,
      '',
      table(['op', 'layers', 'forward ms/step', 'backward ms/step', '% of step'], opRows),
      '',
      table(['conv layer', 'input -> output (C x H x W)', 'forward ms/step', 'backward ms/step'], convRows),
      '',
    );
  }
  setThreads(0);
  return ['### Training step profile: CIFAR ResNet-18, per op type and per convolution (1 thread)', '', ...parts].join('\n');
}
