/**
 * Fused loss kernels benchmark (issue #5): MIMIC's three losses (clone, attention transfer over four probes,
 * NT-Xent) with their student gradients, fused native float32 kernels (CPU; CUDA too when a GPU is usable, host
 * arrays copied in and out) vs an UNFUSED float32 composition written here in TypeScript (separate passes, each
 * materialising its intermediate: attention maps, normalised maps, MSE gradient, ... as an autograd framework does),
 * and PyTorch 1.13 autograd (forward + backward) when installed. Shapes: batch 128; probes 64x32x32, 128x16x16,
 * 256x8x8, 512x4x4 for student and teacher; features 512; projections 2 x 128 rows of 128, tau 0.5.
 * Bytes moved are counted analytically (4 bytes a float, 8 a double; each pass's reads and writes of whole
 * tensors, caches ignored). The TS composition is not a speed peer of native code (JIT vs compiled SIMD): compare
 * its bytes column; its time only bounds what materialising costs.
 * Run: npm run bench -- loss      (MIMIC_BENCH_QUICK=1: batch 16)
 */
import { buildInfo } from '../lib/index.ts';
import { native } from '../lib/native.ts';
import { gaussian } from '../lib/util/rng.ts';
import { fmt, machine, peerVersions, runPeer, table, time } from './lib/common.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Fn = (args: Record<string, unknown>) => any;
const quick = process.env.MIMIC_BENCH_QUICK === '1';
const MB = 1e6;

// ---- unfused float32 compositions; each pass reports the floats it reads and writes ----
class Meter {
  bytes = 0;
  pass(readFloats: number, writeFloats: number) {
    this.bytes += 4 * (readFloats + writeFloats);
  }
}

function l2rows(x: Float32Array, n: number, d: number, m: Meter) {
  const z = new Float32Array(n * d);
  const nrm = new Float32Array(n);
  for (let r = 0; r < n; ++r) {
    let s = 0;
    for (let j = 0; j < d; ++j) s += x[r * d + j] * x[r * d + j];
    nrm[r] = Math.sqrt(s);
    const inv = 1 / Math.max(nrm[r], 1e-12);
    for (let j = 0; j < d; ++j) z[r * d + j] = x[r * d + j] * inv;
  }
  m.pass(n * d, n * d + n);
  return { z, nrm };
}
// dx = (dz - z <z, dz>) / ||x||
function l2rowsBackward(dz: Float32Array, z: Float32Array, nrm: Float32Array, n: number, d: number, m: Meter) {
  const dx = new Float32Array(n * d);
  for (let r = 0; r < n; ++r) {
    let p = 0;
    for (let j = 0; j < d; ++j) p += z[r * d + j] * dz[r * d + j];
    const inv = 1 / Math.max(nrm[r], 1e-12);
    for (let j = 0; j < d; ++j) dx[r * d + j] = (dz[r * d + j] - z[r * d + j] * p) * inv;
  }
  m.pass(2 * n * d + n, n * d);
  return dx;
}

function cloneUnfused(s: Float32Array, t: Float32Array, B: number, D: number, m: Meter) {
  const zs = l2rows(s, B, D, m);
  const zt = l2rows(t, B, D, m);
  let L = 0;
  for (let i = 0; i < B * D; ++i) L -= zs.z[i] * zt.z[i];
  m.pass(2 * B * D, 0);
  const dz = new Float32Array(B * D);
  for (let i = 0; i < B * D; ++i) dz[i] = -zt.z[i] / B;
  m.pass(B * D, B * D);
  return { loss: L / B, grad: l2rowsBackward(dz, zs.z, zs.nrm, B, D, m) };
}

type Probe = { c: number; h: number; w: number };
function attentionUnfused(B: number, probes: Probe[], S: Float32Array[], T: Float32Array[], m: Meter) {
  let total = 0;
  const grads: Float32Array[] = [];
  probes.forEach((pr, l) => {
    const P = pr.h * pr.w, C = pr.c;
    const map = (x: Float32Array) => {  // a = sum_c x^2 (materialised)
      const a = new Float32Array(B * P);
      for (let b = 0; b < B; ++b)
        for (let c = 0; c < C; ++c) {
          const o = (b * C + c) * P;
          for (let i = 0; i < P; ++i) a[b * P + i] += x[o + i] * x[o + i];
        }
      m.pass(B * C * P, B * P);
      return a;
    };
    const normalise = (a: Float32Array) => {  // a_hat = a / (||a|| + eps) (materialised)
      const y = new Float32Array(B * P), n = new Float32Array(B);
      for (let b = 0; b < B; ++b) {
        let s = 0;
        for (let i = 0; i < P; ++i) s += a[b * P + i] ** 2;
        n[b] = Math.sqrt(s);
        for (let i = 0; i < P; ++i) y[b * P + i] = a[b * P + i] / (n[b] + 1e-6);
      }
      m.pass(2 * B * P, B * P + B);
      return { y, n };
    };
    const as = map(S[l]), at = map(T[l]);
    const hs = normalise(as), ht = normalise(at);
    let err = 0;  // MSE forward
    for (let i = 0; i < B * P; ++i) err += (hs.y[i] - ht.y[i]) ** 2;
    m.pass(2 * B * P, 0);
    total += err / (B * P);
    const dy = new Float32Array(B * P);  // MSE backward
    for (let i = 0; i < B * P; ++i) dy[i] = (2 * (hs.y[i] - ht.y[i])) / (B * P);
    m.pass(2 * B * P, B * P);
    const da = new Float32Array(B * P);  // normalise backward
    for (let b = 0; b < B; ++b) {
      let ady = 0;
      for (let i = 0; i < P; ++i) ady += as[b * P + i] * dy[b * P + i];
      const n = hs.n[b], den = n + 1e-6, k = n > 0 ? ady / (n * den * den) : 0;
      for (let i = 0; i < P; ++i) da[b * P + i] = dy[b * P + i] / den - as[b * P + i] * k;
    }
    m.pass(3 * B * P, B * P);
    const g = new Float32Array(B * C * P);  // map backward: 2 x da
    const x = S[l];
    for (let b = 0; b < B; ++b)
      for (let c = 0; c < C; ++c) {
        const o = (b * C + c) * P;
        for (let i = 0; i < P; ++i) g[o + i] = 2 * x[o + i] * da[b * P + i];
      }
    m.pass(B * C * P + B * P, B * C * P);
    grads.push(g);
  });
  return { loss: total, grads };
}

function ntxentUnfused(u: Float32Array, N: number, D: number, tau: number, m: Meter) {
  const B = N / 2;
  const { z, nrm } = l2rows(u, N, D, m);
  const S = new Float32Array(N * N);  // similarity (materialised)
  for (let i = 0; i < N; ++i)
    for (let k = 0; k < N; ++k) {
      let s = 0;
      for (let j = 0; j < D; ++j) s += z[i * D + j] * z[k * D + j];
      S[i * N + k] = s / tau;
    }
  m.pass(2 * N * D, N * N);
  const P = new Float32Array(N * N);  // masked softmax (materialised), per-row lse
  let L = 0;
  for (let i = 0; i < N; ++i) {
    let mx = -Infinity;
    for (let k = 0; k < N; ++k) if (k !== i) mx = Math.max(mx, S[i * N + k]);
    let sum = 0;
    for (let k = 0; k < N; ++k) if (k !== i) sum += Math.exp(S[i * N + k] - mx);
    const lse = mx + Math.log(sum);
    for (let k = 0; k < N; ++k) P[i * N + k] = k === i ? 0 : Math.exp(S[i * N + k] - lse);
    L += lse - S[i * N + ((i + B) % N)];
  }
  m.pass(3 * N * N, N * N);
  const G = new Float32Array(N * N);  // dS = (P - onehot(pos)) / N, then G + G^T (materialised twice)
  for (let i = 0; i < N; ++i) for (let k = 0; k < N; ++k) G[i * N + k] = (P[i * N + k] - (k === (i + B) % N ? 1 : 0)) / N;
  m.pass(N * N, N * N);
  const W = new Float32Array(N * N);
  for (let i = 0; i < N; ++i) for (let k = 0; k < N; ++k) W[i * N + k] = (G[i * N + k] + G[k * N + i]) / tau;
  m.pass(2 * N * N, N * N);
  const dz = new Float32Array(N * D);
  for (let i = 0; i < N; ++i)
    for (let k = 0; k < N; ++k) {
      const w = W[i * N + k];
      if (w === 0) continue;
      for (let j = 0; j < D; ++j) dz[i * D + j] += w * z[k * D + j];
    }
  m.pass(N * N + N * D, N * D);
  return { loss: L / N, grad: l2rowsBackward(dz, z, nrm, N, D, m) };
}

// ---- analytic bytes of the fused kernels (what loss_*.cc / loss_cuda.cu read and write) ----
function fusedBytes(B: number, probes: Probe[], F: number, N: number, D: number) {
  const clone = 4 * (2 * B * F + B * F);  // one read of s and t (the row is re-read from L1), ds written once
  let attention = 0;
  for (const p of probes) {
    const P = p.h * p.w, Ns = B * p.c * P, Nt = B * p.c * P;
    // maps: s and t read once; gradient: s read once more, ds written once; the (B, P) double maps and the
    // float coefficient g written and read once.
    attention += 4 * (2 * Ns + Nt + Ns) + 8 * 2 * 2 * B * P + 4 * 2 * B * P;
  }
  // u read, z written; S written by the similarity, read and rewritten as G by the LSE pass; the two gradient
  // products read G and z and write (then read-modify-write) du; the l2 backward reads z, du and writes du.
  const ntxent = 4 * (2 * N * D + N * N + 2 * N * N + 2 * (N * N + N * D) + 3 * N * D + 3 * N * D);
  return { clone, attention, ntxent };
}

export async function runLossBench(): Promise<string> {
  const losses = (native() as unknown as { losses: Record<string, Fn> }).losses;
  const info = buildInfo();
  const B = quick ? 16 : 128, F = 512, N = 2 * B, D = 128, tau = 0.5;
  const probes: Probe[] = [
    { c: 64, h: 32, w: 32 },
    { c: 128, h: 16, w: 16 },
    { c: 256, h: 8, w: 8 },
    { c: 512, h: 4, w: 4 },
  ];
  const s = gaussian(B * F, 1), t = gaussian(B * F, 2), u = gaussian(N * D, 3);
  const S = probes.map((p, i) => gaussian(B * p.c * p.h * p.w, 10 + i));
  const T = probes.map((p, i) => gaussian(B * p.c * p.h * p.w, 20 + i));
  const layers = probes.map((p, i) => ({
    student: S[i], teacher: T[i], studentShape: [B, p.c, p.h, p.w], teacherShape: [B, p.c, p.h, p.w], beta: 1,
  }));
  const reps = quick ? 3 : 11;
  const fused = fusedBytes(B, probes, F, N, D);
  const cases: { name: string; fused: (backend: string) => unknown; unfused: (m: Meter) => { loss: number }; bytes: number; ref: (backend: string) => number }[] = [
    { name: `clone (${B}x${F})`, fused: (b) => losses.clone({ student: s, teacher: t, shape: [B, F], backend: b }), unfused: (m) => cloneUnfused(s, t, B, F, m), bytes: fused.clone, ref: (b) => losses.clone({ student: s, teacher: t, shape: [B, F], backend: b }).loss },
    { name: `attention (4 probes, B=${B})`, fused: (b) => losses.attention({ layers, backend: b }), unfused: (m) => attentionUnfused(B, probes, S, T, m), bytes: fused.attention, ref: (b) => losses.attention({ layers, backend: b }).loss },
    { name: `NT-Xent (${N}x${D}, tau ${tau})`, fused: (b) => losses.ntXent({ u, shape: [N, D], tau, backend: b }), unfused: (m) => ntxentUnfused(u, N, D, tau, m), bytes: fused.ntxent, ref: (b) => losses.ntXent({ u, shape: [N, D], tau, backend: b }).loss },
  ];
  const peer = runPeer('torch_loss.py', [JSON.stringify({ batch: B, probes: probes.map((p) => [p.c, p.h, p.w]), features: F, proj_rows: N, proj_dim: D, tau, threads: info.threads, repeats: reps })], { OMP_NUM_THREADS: String(info.threads) }, 'torch');
  const torchKey = ['clone', 'attention', 'ntxent'];
  const rows: (string | number)[][] = [];
  for (const [ci, c] of cases.entries()) {
    const m = new Meter();
    const un = c.unfused(m);
    const fusedLoss = c.ref('cpu');
    if (!(Math.abs(un.loss - fusedLoss) <= 1e-4 * Math.max(1, Math.abs(fusedLoss))))
      throw new Error(`${c.name}: unfused composition ${un.loss} disagrees with the fused kernel ${fusedLoss}`);
    const tf = await time(`${c.name} fused`, () => c.fused('cpu'), reps);
    const tu = await time(`${c.name} unfused`, () => c.unfused(new Meter()), quick ? 2 : 5);
    const tg = info.gpuAvailable ? await time(`${c.name} cuda`, () => c.fused('cuda'), reps) : null;
    const tt = peer.ok ? Number(peer.data[torchKey[ci]]) : NaN;
    rows.push([
      c.name,
      fmt(tf.median * 1e3, 3),
      fmt(c.bytes / MB, 2),
      fmt(c.bytes / tf.median / 1e9, 2),
      fmt(tu.median * 1e3, 2),
      fmt(m.bytes / MB, 2),
      fmt(m.bytes / c.bytes, 2),
      tg ? fmt(tg.median * 1e3, 3) : 'n/a',
      peer.ok ? fmt(tt * 1e3, 3) : 'n/a',
    ]);
  }
  const head = ['loss + student gradient', 'fused CPU ms', 'fused MB', 'fused GB/s', 'unfused TS ms', 'unfused MB', 'bytes ratio', 'fused CUDA ms (incl. copies)', 'torch ms'];
  return [
    `### Fused loss kernels (batch ${B}, ${info.threads} threads)`,
    '',
    `Machine: ${machine()}. Peers: ${peerVersions()}${peer.ok ? `, torch threads ${peer.data.threads}` : ` (torch: ${peer.why})`}.`,
    info.gpuAvailable ? '' : `CUDA column: n/a (${info.cudaMessage || 'no GPU'}).`,
    '',
    table(head, rows),
    '',
    'Medians. MB: analytic bytes read + written (float32 = 4 B, double = 8 B), caches ignored. Unfused TS: float32 ' +
      'TypeScript passes that each materialise their intermediate (maps, normalised maps, MSE gradient, similarity, ' +
      'softmax, dS, G + G^T); its time is JIT code vs native SIMD, so read the bytes column for the fusion gain. ' +
      'torch: autograd forward + backward of the same losses on the CPU.',
  ].join('\n');
}
