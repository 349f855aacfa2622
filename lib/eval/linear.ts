/**
 * Linear probe: softmax regression on standardised features. Each feature is standardised with the training
 * set's mean and standard deviation (population, float64; a constant feature gets std 1), the same statistics
 * applied to test rows; weights trained with cross-entropy and Adam (dense.ts) on seeded shuffled minibatches.
 * Defaults: 100 epochs, batch 256, Adam lr 1e-3, no weight decay.
 */
import { checkFeatures, checkLabels, forRowRanges, type Classifier, type FeatureMatrix, type LabelledFeatures } from './types.ts';
import { argmaxRows, denseLogits, denseLogitsAsync, fitDense, type DenseFitOptions, type DenseModel } from './dense.ts';

export type LinearProbeOptions = DenseFitOptions;

export const LINEAR_DEFAULTS = { epochs: 100, batchSize: 256, lr: 1e-3, weightDecay: 0 } as const;

export interface Standardizer {
  mean: Float64Array;
  /** 1 / std per feature (1 for a constant feature). */
  invStd: Float64Array;
}

export function fitStandardizer(x: FeatureMatrix): Standardizer {
  const st = standardizerPasses(x);
  st.sums(0, x.rows);
  st.center();
  st.squares(0, x.rows);
  return st.result();
}

/** fitStandardizer in row ranges, giving the event loop turns. */
export async function fitStandardizerAsync(x: FeatureMatrix): Promise<Standardizer> {
  const st = standardizerPasses(x);
  await forRowRanges(x.rows, st.sums);
  st.center();
  await forRowRanges(x.rows, st.squares);
  return st.result();
}

// Column means, then squared deviations from them (two passes: the one-pass formula loses digits).
function standardizerPasses(x: FeatureMatrix) {
  const { rows, cols, data } = x;
  const mean = new Float64Array(cols), sq = new Float64Array(cols);
  return {
    sums: (r0: number, r1: number) => {
      for (let i = r0; i < r1; ++i) for (let k = 0; k < cols; ++k) mean[k] += data[i * cols + k];
    },
    center: () => {
      for (let k = 0; k < cols; ++k) mean[k] /= Math.max(1, rows);
    },
    squares: (r0: number, r1: number) => {
      for (let i = r0; i < r1; ++i)
        for (let k = 0; k < cols; ++k) {
          const d = data[i * cols + k] - mean[k];
          sq[k] += d * d;
        }
    },
    result: (): Standardizer => {
      const invStd = Float64Array.from(sq, (s) => {
        const std = Math.sqrt(s / Math.max(1, rows));
        return std > 1e-12 ? 1 / std : 1;
      });
      return { mean, invStd };
    },
  };
}

export function standardize(x: FeatureMatrix, s: Standardizer): FeatureMatrix {
  const out = new Float32Array(x.data.length);
  standardizeRows(x, s, out, 0, x.rows);
  return { data: out, rows: x.rows, cols: x.cols };
}

/** standardize in row ranges, giving the event loop turns. */
export async function standardizeAsync(x: FeatureMatrix, s: Standardizer): Promise<FeatureMatrix> {
  const out = new Float32Array(x.data.length);
  await forRowRanges(x.rows, (r0, r1) => standardizeRows(x, s, out, r0, r1));
  return { data: out, rows: x.rows, cols: x.cols };
}

function standardizeRows(x: FeatureMatrix, s: Standardizer, out: Float32Array, r0: number, r1: number): void {
  const { cols, data } = x;
  for (let i = r0; i < r1; ++i) for (let k = 0; k < cols; ++k) out[i * cols + k] = (data[i * cols + k] - s.mean[k]) * s.invStd[k];
}

export class LinearProbe implements Classifier {
  readonly kind = 'linear' as const;
  readonly numClasses: number;
  readonly cols: number;
  constructor(readonly model: DenseModel, readonly standardizer: Standardizer, private readonly threads = 0) {
    this.cols = model.sizes[0];
    this.numClasses = model.sizes[model.sizes.length - 1];
  }
  logits(x: FeatureMatrix): Float32Array {
    checkFeatures(x, 'linear probe test features', this.cols);
    return denseLogits(this.model, standardize(x, this.standardizer), this.threads);
  }
  async predict(x: FeatureMatrix): Promise<Int32Array> {
    checkFeatures(x, 'linear probe test features', this.cols);
    return argmaxRows(await denseLogitsAsync(this.model, await standardizeAsync(x, this.standardizer), this.threads), x.rows, this.numClasses);
  }
}

export async function fitLinearProbe(train: LabelledFeatures, o: LinearProbeOptions = {}): Promise<LinearProbe> {
  checkFeatures(train, 'linear probe training features');
  const numClasses = checkLabels(train, 'linear probe training features', o.numClasses);
  const st = await fitStandardizerAsync(train);
  const model = await fitDense({ ...(await standardizeAsync(train, st)), labels: train.labels }, numClasses, { hidden: [] }, o, LINEAR_DEFAULTS);
  return new LinearProbe(model, st, o.threads ?? 0);
}
