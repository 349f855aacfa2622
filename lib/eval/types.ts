/**
 * Shared types of the downstream evaluation: feature matrices (one row per image, row-major float32), labelled
 * training sets, and the classifier interface every probe (kNN, linear, MLP) implements.
 */
import { invalid, MimicError } from '../errors.ts';

export type ClassifierKind = 'knn' | 'linear' | 'mlp';
export const CLASSIFIERS: readonly ClassifierKind[] = ['knn', 'linear', 'mlp'];

export interface FeatureMatrix {
  /** rows x cols, row-major. */
  data: Float32Array;
  rows: number;
  cols: number;
}

export interface LabelledFeatures extends FeatureMatrix {
  /** One label per row, in 0..numClasses-1. */
  labels: Int32Array;
}

export interface Classifier {
  readonly kind: ClassifierKind;
  readonly numClasses: number;
  /** The feature dimension it was trained on. */
  readonly cols: number;
  /** Predicted class per row. */
  predict(x: FeatureMatrix): Promise<Int32Array>;
}

/** Progress of a classifier's training (epochs) or prediction (rows). */
export type ClassifierProgress = (done: number, total: number) => void;

/** Throws typed errors for a malformed feature matrix (shape, dtype, NaN/Inf); `what` names it. */
export function checkFeatures(x: FeatureMatrix, what: string, cols?: number): void {
  if (!x || !(x.data instanceof Float32Array)) throw new MimicError('E_DTYPE', `${what}: data must be a Float32Array`);
  if (!Number.isInteger(x.rows) || x.rows < 0 || !Number.isInteger(x.cols) || x.cols < 1)
    throw invalid(`${what}: rows must be a non-negative integer and cols a positive integer (got ${x.rows} x ${x.cols})`);
  if (x.data.length !== x.rows * x.cols)
    throw new MimicError('E_SHAPE_MISMATCH', `${what}: ${x.rows} x ${x.cols} needs ${x.rows * x.cols} values, data has ${x.data.length}`);
  if (cols !== undefined && x.cols !== cols)
    throw new MimicError('E_SHAPE_MISMATCH', `${what}: ${x.cols} features per row, the classifier was trained on ${cols}`);
  const d = x.data;
  for (let i = 0; i < d.length; ++i)
    if (!Number.isFinite(d[i])) throw new MimicError('E_NON_FINITE', `${what}: row ${Math.floor(i / x.cols)}, feature ${i % x.cols} is ${d[i]}`);
}

/** Checks labels against the rows and returns the class count (max label + 1, or `numClasses` when given). */
export function checkLabels(x: LabelledFeatures, what: string, numClasses?: number): number {
  if (!(x.labels instanceof Int32Array)) throw new MimicError('E_DTYPE', `${what}: labels must be an Int32Array`);
  if (x.labels.length !== x.rows) throw new MimicError('E_SHAPE_MISMATCH', `${what}: ${x.rows} rows but ${x.labels.length} labels`);
  if (x.rows < 1) throw invalid(`${what}: no training rows`);
  let max = -1;
  for (let i = 0; i < x.labels.length; ++i) {
    const y = x.labels[i];
    if (y < 0) throw invalid(`${what}: label ${i} is ${y}; labels must be 0..numClasses-1`);
    if (y > max) max = y;
  }
  if (numClasses === undefined) return max + 1;
  if (!Number.isInteger(numClasses) || numClasses < 1) throw invalid(`${what}: numClasses must be a positive integer (got ${numClasses})`);
  if (max >= numClasses) throw invalid(`${what}: label ${max} is outside 0..${numClasses - 1} (numClasses ${numClasses})`);
  return numClasses;
}

/** A copy of the rows scaled to unit L2 norm (all-zero rows stay zero), as InstDisc / BadEncoder normalise. */
export function l2Normalized(x: FeatureMatrix): FeatureMatrix {
  const out = new Float32Array(x.data.length);
  l2NormalizeRows(x, out, 0, x.rows);
  return { data: out, rows: x.rows, cols: x.cols };
}

/** l2Normalized in row ranges, giving the event loop turns (the classifiers' own preprocessing). */
export async function l2NormalizedAsync(x: FeatureMatrix): Promise<FeatureMatrix> {
  const out = new Float32Array(x.data.length);
  await forRowRanges(x.rows, (r0, r1) => l2NormalizeRows(x, out, r0, r1));
  return { data: out, rows: x.rows, cols: x.cols };
}

function l2NormalizeRows(x: FeatureMatrix, out: Float32Array, r0: number, r1: number): void {
  const { cols, data } = x;
  for (let i = r0; i < r1; ++i) {
    const o = i * cols;
    let s = 0;
    for (let k = 0; k < cols; ++k) s += data[o + k] * data[o + k];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < cols; ++k) out[o + k] = data[o + k] * inv;
  }
}

/** Runs body(r0, r1) over [0, rows) in ranges of `step` rows, giving the event loop a turn every ~15 ms. */
export async function forRowRanges(rows: number, body: (r0: number, r1: number) => void, step = 1024): Promise<void> {
  let last = performance.now();
  for (let r = 0; r < rows; r += step) {
    body(r, Math.min(rows, r + step));
    if (performance.now() - last > 15) {
      await yieldToLoop();
      last = performance.now();
    }
  }
}

/** Fraction of rows where predictions[i] === labels[i] (over `mask` rows when given); NaN when none count. */
export function accuracy(predictions: Int32Array, labels: Int32Array, mask?: (i: number) => boolean): number {
  let hit = 0, n = 0;
  for (let i = 0; i < predictions.length; ++i) {
    if (mask && !mask(i)) continue;
    ++n;
    if (predictions[i] === labels[i]) ++hit;
  }
  return n === 0 ? NaN : hit / n;
}

/**
 * Attack success rate: the fraction of triggered images classified as `target`. `labels` (the images' true
 * labels) with `excludeTarget` restricts it to images whose true label is not the target (BadEncoder's ASR).
 */
export function attackSuccessRate(predictions: Int32Array, target: number, labels?: Int32Array, excludeTarget = true): number {
  let hit = 0, n = 0;
  for (let i = 0; i < predictions.length; ++i) {
    if (excludeTarget && labels && labels[i] === target) continue;
    ++n;
    if (predictions[i] === target) ++hit;
  }
  return n === 0 ? NaN : hit / n;
}

/** Yields to the event loop (lets timers, progress output and abort signals through during long loops). */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
