/**
 * Weighted k-nearest-neighbour classifier on features, the monitor of InstDisc (Wu et al. 2018) and SimCLR
 * implementations:
 *   - train and test features are L2-normalised; similarity = cosine = dot product;
 *   - the k most similar training rows (k default 200, at most the training set's size);
 *   - each neighbour votes for its label with weight exp(sim / t) (t default 0.5);
 *   - the prediction is the class with the largest summed weight (ties: the smaller label).
 * Similarities come from the engine's float32 SGEMM (test chunk x train^T), off the event loop, in chunks of test
 * rows sized so that a chunk's similarity block holds at most `chunkElements` floats (default 2^21 = 8 MiB; two
 * blocks are alive at once: the next chunk's GEMM runs while this chunk's top-k is selected on the main thread,
 * ~25 ms per chunk at most, so the event loop keeps turning).
 * `probabilities` are the class weights of each row divided by their sum (the weights are computed as
 * exp((sim - max sim) / t), which changes no ratio and cannot overflow).
 */
import { fromNative, invalid, checkAborted } from '../errors.ts';
import { native } from '../native.ts';
import { checkFeatures, checkLabels, l2Normalized, l2NormalizedAsync, yieldToLoop, type Classifier, type ClassifierProgress, type FeatureMatrix, type LabelledFeatures } from './types.ts';

/** Throws E_INVALID_ARGUMENT for an unusable k or t (exported so callers can check before computing features). */
export function checkKnnOptions(k: number, t: number): void {
  if (!Number.isInteger(k) || k < 1) throw invalid(`knn k must be a positive integer (got ${k})`);
  if (!(t > 0) || !Number.isFinite(t)) throw invalid(`knn t must be a positive number (got ${t})`);
}

export interface KnnOptions {
  /** Neighbours (default 200; capped at the training rows). */
  k?: number;
  /** Temperature of the weights exp(sim / t) (default 0.5). */
  t?: number;
  /** Classes (default: max training label + 1). */
  numClasses?: number;
  /** GEMM threads (0 or absent: the engine's pool). */
  threads?: number;
  /** Most floats in one similarity block (default 2^23). */
  chunkElements?: number;
  signal?: AbortSignal;
}

export const KNN_DEFAULTS = { k: 200, t: 0.5 } as const;

export interface KnnScores {
  predictions: Int32Array;
  /** rows x numClasses, each row summing to 1. */
  probabilities: Float64Array;
}

export class KnnClassifier implements Classifier {
  readonly kind = 'knn' as const;
  readonly numClasses: number;
  readonly cols: number;
  readonly k: number;
  readonly t: number;
  private readonly bank: FeatureMatrix;
  private readonly labels: Int32Array;
  private readonly threads: number;
  private readonly chunkElements: number;
  private readonly signal?: AbortSignal;

  constructor(train: LabelledFeatures, o: KnnOptions = {}) {
    checkFeatures(train, 'knn training features');
    this.numClasses = checkLabels(train, 'knn training features', o.numClasses);
    const k = o.k ?? KNN_DEFAULTS.k;
    const t = o.t ?? KNN_DEFAULTS.t;
    checkKnnOptions(k, t);
    const chunk = o.chunkElements ?? 1 << 21;
    if (!Number.isInteger(chunk) || chunk < 1) throw invalid(`knn chunkElements must be a positive integer (got ${o.chunkElements})`);
    this.k = Math.min(k, train.rows);
    this.t = t;
    this.cols = train.cols;
    this.bank = l2Normalized(train);
    this.labels = Int32Array.from(train.labels);
    this.threads = o.threads ?? 0;
    this.chunkElements = chunk;
    this.signal = o.signal;
  }

  async predict(x: FeatureMatrix, onProgress?: ClassifierProgress): Promise<Int32Array> {
    return (await this.scores(x, onProgress)).predictions;
  }

  /** Predictions and per-class probabilities (normalised vote weights) for every row of x. */
  async scores(x: FeatureMatrix, onProgress?: ClassifierProgress): Promise<KnnScores> {
    checkFeatures(x, 'knn test features', this.cols);
    const q = await l2NormalizedAsync(x);
    const N = this.bank.rows, D = this.cols, C = this.numClasses, k = this.k;
    const rows = x.rows;
    const chunk = Math.max(1, Math.min(rows, Math.floor(this.chunkElements / N)));
    const predictions = new Int32Array(rows);
    const probabilities = new Float64Array(rows * C);
    if (rows === 0) return { predictions, probabilities };
    const bufs = [new Float32Array(chunk * N), new Float32Array(chunk * N)];
    const gemm = (start: number, buf: Float32Array): Promise<void> => {
      const m = Math.min(chunk, rows - start);
      return native()
        .sgemmAsync({ m, n: N, k: D, a: q.data.subarray(start * D, (start + m) * D), b: this.bank.data, transB: true, c: buf, threads: this.threads, borrow: true })
        .catch((err: unknown) => {
          throw fromNative(err);
        });
    };
    const heapSim = new Float32Array(k);
    const heapIdx = new Int32Array(k);
    const score = new Float64Array(C);
    let pending = gemm(0, bufs[0]);
    for (let start = 0, b = 0; start < rows; start += chunk, b ^= 1) {
      checkAborted(this.signal, 'knn');
      await pending;
      const sims = bufs[b];
      const m = Math.min(chunk, rows - start);
      if (start + chunk < rows) pending = gemm(start + chunk, bufs[b ^ 1]);
      for (let r = 0; r < m; ++r) {
        const row = sims.subarray(r * N, (r + 1) * N);
        const filled = topK(row, k, heapSim, heapIdx);
        let max = -Infinity;
        for (let j = 0; j < filled; ++j) if (heapSim[j] > max) max = heapSim[j];
        score.fill(0);
        for (let j = 0; j < filled; ++j) score[this.labels[heapIdx[j]]] += Math.exp((heapSim[j] - max) / this.t);
        let best = 0, sum = 0;
        for (let c = 0; c < C; ++c) {
          sum += score[c];
          if (score[c] > score[best]) best = c;
        }
        const i = start + r;
        predictions[i] = best;
        for (let c = 0; c < C; ++c) probabilities[i * C + c] = score[c] / sum;
      }
      onProgress?.(start + m, rows);
      await yieldToLoop();
    }
    return { predictions, probabilities };
  }
}

/**
 * The k largest values of `row` (a min-heap in heapSim / heapIdx, unordered); returns how many were kept
 * (min(k, row.length)). Ties at the boundary keep the earlier index.
 */
export function topK(row: Float32Array, k: number, heapSim: Float32Array, heapIdx: Int32Array): number {
  const n = row.length;
  const kk = Math.min(k, n);
  for (let j = 0; j < kk; ++j) {
    // sift up
    let c = j;
    const v = row[j];
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (heapSim[p] <= v) break;
      heapSim[c] = heapSim[p];
      heapIdx[c] = heapIdx[p];
      c = p;
    }
    heapSim[c] = v;
    heapIdx[c] = j;
  }
  for (let j = kk; j < n; ++j) {
    const v = row[j];
    if (!(v > heapSim[0])) continue;
    // replace the root and sift down
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      if (l >= kk) break;
      const r = l + 1;
      const s = r < kk && heapSim[r] < heapSim[l] ? r : l;
      if (heapSim[s] >= v) break;
      heapSim[c] = heapSim[s];
      heapIdx[c] = heapIdx[s];
      c = s;
    }
    heapSim[c] = v;
    heapIdx[c] = j;
  }
  return kk;
}

/** Builds the kNN classifier (stores the L2-normalised training features; no training). */
export function fitKnn(train: LabelledFeatures, options: KnnOptions = {}): KnnClassifier {
  return new KnnClassifier(train, options);
}
