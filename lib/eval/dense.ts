/**
 * A small fully connected softmax classifier trained with cross-entropy and Adam: the shared engine of the linear
 * probe (no hidden layer) and of BadEncoder's MLP (hidden layers with ReLU, dropout after chosen ones).
 *
 *   Z_l = A_{l-1} W_l^T + b_l          (W_l: out x in, PyTorch's Linear layout; the engine's SGEMM, transB)
 *   A_l = dropout(relu(Z_l))           (hidden layers; inverted dropout, kept units scaled by 1 / (1 - p))
 *   loss = mean over the batch of -log softmax(Z_L)[y]
 * Gradients are computed here (SGEMM for the products, loops for bias / ReLU / softmax); Adam is the engine's
 * (lib/train/optim.ts, PyTorch's semantics). Weights start as PyTorch's Linear default, U(+-1/sqrt(fan_in)).
 * Everything random (initial weights, the per-epoch shuffle, dropout masks) comes from the seed, so a run is
 * reproducible for a given seed and thread count (the GEMM's work split depends on the thread count, so float32
 * rounding, and hence the trained weights, can differ slightly between thread counts). The last, short batch of an epoch is kept (PyTorch's DataLoader default, drop_last = False).
 * The loop runs on the calling thread and gives the event loop a turn every ~20 ms (and after every epoch).
 */
import { fromNative, invalid, checkAborted } from '../errors.ts';
import { native } from '../native.ts';
import { Optimizer } from '../train/optim.ts';
import { linearDefault, paramSeed } from '../train/init.ts';
import { mulberry32 } from '../util/rng.ts';
import { checkFeatures, checkLabels, forRowRanges, yieldToLoop, type FeatureMatrix, type LabelledFeatures } from './types.ts';

export interface DenseTrainOptions {
  /** Hidden layer widths (empty: softmax regression). */
  hidden: number[];
  /** Dropout probability after each hidden layer's ReLU (missing entries: 0). */
  dropout?: number[];
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay?: number;
  seed: number;
  numClasses?: number;
  threads?: number;
  signal?: AbortSignal;
  /** Called after every epoch with the epoch's mean training loss. */
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

export interface DenseModel {
  /** Layer widths: [in, ...hidden, classes]. */
  sizes: number[];
  /** Per layer: W (out x in) and b (out). */
  weights: Float32Array[];
  biases: Float32Array[];
  /** Mean training loss per epoch. */
  losses: number[];
}

/** The training options of the linear probe and the MLP; missing ones take the classifier's defaults. */
export interface DenseFitOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /** Default 0. */
  seed?: number;
  numClasses?: number;
  threads?: number;
  signal?: AbortSignal;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

export type DenseFitDefaults = Readonly<{ epochs: number; batchSize: number; lr: number; weightDecay: number }>;

/** trainDense with a classifier's layers and options (`o` over `defaults`, seed 0). */
export function fitDense(x: LabelledFeatures, numClasses: number, layers: Pick<DenseTrainOptions, 'hidden' | 'dropout'>, o: DenseFitOptions, defaults: DenseFitDefaults): Promise<DenseModel> {
  return trainDense(x, {
    ...layers,
    epochs: o.epochs ?? defaults.epochs,
    batchSize: o.batchSize ?? defaults.batchSize,
    lr: o.lr ?? defaults.lr,
    weightDecay: o.weightDecay ?? defaults.weightDecay,
    seed: o.seed ?? 0,
    numClasses,
    threads: o.threads,
    signal: o.signal,
    onEpoch: o.onEpoch,
  });
}

function gemm(args: Parameters<ReturnType<typeof native>['sgemm']>[0]): void {
  try {
    native().sgemm(args);
  } catch (err) {
    throw fromNative(err);
  }
}

/** Throws E_INVALID_ARGUMENT for unusable settings (exported so callers can check before computing features). */
export function checkTrainOptions(o: DenseTrainOptions): void {
  if (!Array.isArray(o.hidden) || o.hidden.some((h) => !Number.isInteger(h) || h < 1)) throw invalid(`hidden layer widths must be positive integers (got ${JSON.stringify(o.hidden)})`);
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw invalid(`epochs must be a positive integer (got ${o.epochs})`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw invalid(`batch size must be a positive integer (got ${o.batchSize})`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) throw invalid(`learning rate must be a positive number (got ${o.lr})`);
  if (o.weightDecay !== undefined && !(o.weightDecay >= 0)) throw invalid(`weight decay must be >= 0 (got ${o.weightDecay})`);
  if (!Number.isInteger(o.seed)) throw invalid(`seed must be an integer (got ${o.seed})`);
  for (const p of o.dropout ?? []) if (!(p >= 0 && p < 1)) throw invalid(`dropout must be in [0, 1) (got ${p})`);
}

/** Trains the network on (x, labels); returns its weights and the loss history. */
export async function trainDense(x: LabelledFeatures, o: DenseTrainOptions): Promise<DenseModel> {
  checkTrainOptions(o);
  checkFeatures(x, 'training features');
  const C = checkLabels(x, 'training features', o.numClasses);
  const sizes = [x.cols, ...o.hidden, C];
  const L = sizes.length - 1;
  const weights: Float32Array[] = [], biases: Float32Array[] = [];
  for (let l = 0; l < L; ++l) {
    weights.push(linearDefault(sizes[l + 1] * sizes[l], sizes[l], paramSeed(o.seed, 2 * l)));
    biases.push(linearDefault(sizes[l + 1], sizes[l], paramSeed(o.seed, 2 * l + 1)));
  }
  const gW = weights.map((w) => new Float32Array(w.length));
  const gB = biases.map((b) => new Float32Array(b.length));
  const params: Float32Array[] = [], grads: Float32Array[] = [];
  for (let l = 0; l < L; ++l) params.push(weights[l], biases[l]), grads.push(gW[l], gB[l]);
  const threads = o.threads ?? 0;
  const opt = Optimizer.create({ kind: 'adam', params, lr: o.lr, weightDecay: o.weightDecay ?? 0, threads });

  const B = Math.min(o.batchSize, x.rows);
  const keep = o.hidden.map((_, l) => 1 - (o.dropout?.[l] ?? 0));
  const shuffleRng = mulberry32(paramSeed(o.seed, 1000));
  const pass = makePass({ sizes, weights, biases }, gW, gB, keep, B, threads, mulberry32(paramSeed(o.seed, 1001)));
  const order = Int32Array.from({ length: x.rows }, (_, i) => i);
  const D = x.cols;
  const losses: number[] = [];
  const xd = x.data;
  const a0 = pass.input, labels = pass.labels;

  let lastTurn = performance.now();
  for (let epoch = 0; epoch < o.epochs; ++epoch) {
    checkAborted(o.signal, 'classifier training');
    for (let i = order.length - 1; i > 0; --i) {
      const j = Math.floor(shuffleRng() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    let lossSum = 0;
    for (let start = 0; start < x.rows; start += B) {
      const m = Math.min(B, x.rows - start);
      for (let r = 0; r < m; ++r) {
        const i = order[start + r];
        for (let k = 0, src = i * D, dst = r * D; k < D; ++k) a0[dst + k] = xd[src + k];
        labels[r] = x.labels[i];
      }
      lossSum += pass.run(m);
      opt.step(grads);
      // the batches run on the main thread: give the event loop a turn every ~20 ms
      if (performance.now() - lastTurn > 20) {
        await yieldToLoop();
        lastTurn = performance.now();
      }
    }
    const loss = lossSum / x.rows;
    losses.push(loss);
    o.onEpoch?.(epoch + 1, o.epochs, loss);
    await yieldToLoop();
  }
  return { sizes, weights, biases, losses };
}

type Weights = Pick<DenseModel, 'sizes' | 'weights' | 'biases'>;

/**
 * One training pass over a batch held in `input` / `labels` (the first m rows): forward (dropout drawn from
 * `dropRng`), softmax cross-entropy, backward into gW / gB (overwritten; gradients of the batch's mean loss).
 * Returns the batch's summed loss.
 */
function makePass(w: Weights, gW: Float32Array[], gB: Float32Array[], keep: number[], B: number, threads: number, dropRng: () => number) {
  const { sizes, weights, biases } = w;
  const L = sizes.length - 1;
  const C = sizes[L];
  // Activations A_0 (the batch input) .. A_L (logits), and their gradients.
  const acts = sizes.map((s) => new Float32Array(B * s));
  const dActs = sizes.map((s) => new Float32Array(B * s));
  const labels = new Int32Array(B);
  const ones = new Float32Array(B).fill(1);
  const run = (m: number): number => {
    // forward
    for (let l = 0; l < L; ++l) {
      const nin = sizes[l], nout = sizes[l + 1];
      const z = acts[l + 1].subarray(0, m * nout);
      const bias = biases[l];
      for (let r = 0; r < m; ++r) z.set(bias, r * nout);
      gemm({ m, n: nout, k: nin, a: acts[l].subarray(0, m * nin), b: weights[l], transB: true, beta: 1, c: z, threads });
      if (l < L - 1) {
        const p = keep[l];
        if (p < 1) {
          const s = 1 / p;
          for (let e = 0; e < z.length; ++e) z[e] = z[e] > 0 && dropRng() < p ? z[e] * s : 0;
        } else for (let e = 0; e < z.length; ++e) if (!(z[e] > 0)) z[e] = 0;
      }
    }
    // softmax cross-entropy: dZ_L = (softmax - onehot) / m
    const logits = acts[L], dz = dActs[L];
    let lossSum = 0;
    for (let r = 0; r < m; ++r) {
      const o = r * C;
      let max = -Infinity;
      for (let c = 0; c < C; ++c) if (logits[o + c] > max) max = logits[o + c];
      let sum = 0;
      for (let c = 0; c < C; ++c) sum += dz[o + c] = Math.exp(logits[o + c] - max);
      lossSum += Math.log(sum) + max - logits[o + labels[r]];
      const s = 1 / (sum * m);
      for (let c = 0; c < C; ++c) dz[o + c] *= s;
      dz[o + labels[r]] -= 1 / m;
    }
    // backward
    for (let l = L - 1; l >= 0; --l) {
      const nin = sizes[l], nout = sizes[l + 1];
      const g = dActs[l + 1].subarray(0, m * nout);
      const a = acts[l].subarray(0, m * nin);
      gemm({ transA: true, m: nout, n: nin, k: m, a: g, b: a, c: gW[l], threads }); // dW = dZ^T A
      gemm({ m: 1, n: nout, k: m, a: ones.subarray(0, m), b: g, c: gB[l], threads }); // db = 1^T dZ
      if (l > 0) {
        const da = dActs[l].subarray(0, m * nin);
        gemm({ m, n: nin, k: nout, a: g, b: weights[l], c: da, threads }); // dA = dZ W
        // through dropout and ReLU: A > 0 marks the units that passed (scaled by 1 / keep)
        const s = 1 / keep[l - 1];
        for (let e = 0; e < da.length; ++e) da[e] = a[e] > 0 ? da[e] * s : 0;
      }
    }
    return lossSum;
  };
  return { input: acts[0], labels, run };
}

/** Mean cross-entropy of (x, labels) under the weights and its gradients, as one batch without dropout (for checks). */
export function denseGradients(w: Weights, x: LabelledFeatures, threads = 0): { loss: number; gW: Float32Array[]; gB: Float32Array[] } {
  checkFeatures(x, 'features', w.sizes[0]);
  checkLabels(x, 'features', w.sizes[w.sizes.length - 1]);
  const gW = w.weights.map((a) => new Float32Array(a.length));
  const gB = w.biases.map((a) => new Float32Array(a.length));
  const pass = makePass(w, gW, gB, w.sizes.slice(1, -1).map(() => 1), x.rows, threads, () => 0);
  pass.input.set(x.data);
  pass.labels.set(x.labels);
  return { loss: pass.run(x.rows) / x.rows, gW, gB };
}

/** Logits of every row (eval mode: no dropout), in chunks of `chunk` rows. */
export function denseLogits(model: DenseModel, x: FeatureMatrix, threads = 0, chunk = 4096): Float32Array {
  const f = logitsOfRows(model, x, threads, chunk);
  for (let start = 0; start < x.rows; start += chunk) f.rows(start, Math.min(x.rows, start + chunk));
  return f.out;
}

/** denseLogits in row ranges, giving the event loop turns (the classifiers' predict). */
export async function denseLogitsAsync(model: DenseModel, x: FeatureMatrix, threads = 0, chunk = 512): Promise<Float32Array> {
  const f = logitsOfRows(model, x, threads, chunk);
  await forRowRanges(x.rows, f.rows, chunk);
  return f.out;
}

function logitsOfRows(model: DenseModel, x: FeatureMatrix, threads: number, chunk: number) {
  const { sizes, weights, biases } = model;
  const L = sizes.length - 1;
  const C = sizes[L];
  const out = new Float32Array(x.rows * C);
  const bufs = sizes.map((s) => new Float32Array(Math.min(chunk, Math.max(1, x.rows)) * s));
  const rows = (start: number, end: number) => {
    const m = end - start;
    let a = x.data.subarray(start * sizes[0], end * sizes[0]);
    for (let l = 0; l < L; ++l) {
      const nout = sizes[l + 1];
      const z = l === L - 1 ? out.subarray(start * C, end * C) : bufs[l + 1].subarray(0, m * nout);
      for (let r = 0; r < m; ++r) z.set(biases[l], r * nout);
      gemm({ m, n: nout, k: sizes[l], a, b: weights[l], transB: true, beta: 1, c: z, threads });
      if (l < L - 1) for (let e = 0; e < z.length; ++e) if (!(z[e] > 0)) z[e] = 0;
      a = z;
    }
  };
  return { out, rows };
}

/** Argmax of each row of a rows x C matrix (ties: the smaller class). */
export function argmaxRows(logits: Float32Array, rows: number, C: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; ++r) {
    let best = 0;
    for (let c = 1; c < C; ++c) if (logits[r * C + c] > logits[r * C + best]) best = c;
    out[r] = best;
  }
  return out;
}
