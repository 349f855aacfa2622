/**
 * BadEncoder's downstream classifier (Jia et al., evaluation/nn_classifier.py and training_downstream_classifier.py):
 * L2-normalised features (their predict_feature) -> Linear 512 -> ReLU -> Dropout(0.5) -> Linear 256 -> ReLU ->
 * Linear classes, cross-entropy, Adam lr 1e-4, batch 64.
 * Differences from the authors, for a cheap default (10 epochs: 60000 x 64-d features train in about 15-35 s on
 * 2 cores):
 *   - the authors train 500 epochs on unshuffled batches; here batches are shuffled with the seed each epoch;
 *   - by default the L2-normalised features are also standardised with the training set's mean and std
 *     (`standardize: true`): an encoder whose features all point almost the same way (a random-weight one: total
 *     variance ~2e-4 after L2 normalisation) otherwise stays at chance for many epochs at lr 1e-4.
 * `{ epochs: 500, standardize: false }` is the paper's protocol (but for the shuffle).
 */
import { fitStandardizerAsync, standardize, standardizeAsync, type Standardizer } from './linear.ts';
import { checkFeatures, checkLabels, l2Normalized, l2NormalizedAsync, type Classifier, type FeatureMatrix, type LabelledFeatures } from './types.ts';
import { argmaxRows, denseLogits, denseLogitsAsync, fitDense, type DenseFitOptions, type DenseModel } from './dense.ts';

export interface MlpOptions extends DenseFitOptions {
  /** Hidden widths, default [512, 256]. */
  hidden?: number[];
  /** Dropout after the first hidden layer's ReLU (default 0.5, as the authors). */
  dropout?: number;
  /** Standardise the L2-normalised features with the training mean / std (default true; the authors: false). */
  standardize?: boolean;
}

export const MLP_DEFAULTS = { hidden: [512, 256], dropout: 0.5, epochs: 10, batchSize: 64, lr: 1e-4, weightDecay: 0, standardize: true } as const;

export class MlpClassifier implements Classifier {
  readonly kind = 'mlp' as const;
  readonly numClasses: number;
  readonly cols: number;
  constructor(readonly model: DenseModel, readonly standardizer?: Standardizer, private readonly threads = 0) {
    this.cols = model.sizes[0];
    this.numClasses = model.sizes[model.sizes.length - 1];
  }
  logits(x: FeatureMatrix): Float32Array {
    checkFeatures(x, 'mlp test features', this.cols);
    const n = l2Normalized(x);
    return denseLogits(this.model, this.standardizer ? standardize(n, this.standardizer) : n, this.threads);
  }
  async predict(x: FeatureMatrix): Promise<Int32Array> {
    checkFeatures(x, 'mlp test features', this.cols);
    const n = await l2NormalizedAsync(x);
    const logits = await denseLogitsAsync(this.model, this.standardizer ? await standardizeAsync(n, this.standardizer) : n, this.threads);
    return argmaxRows(logits, x.rows, this.numClasses);
  }
}

export async function fitMlp(train: LabelledFeatures, o: MlpOptions = {}): Promise<MlpClassifier> {
  checkFeatures(train, 'mlp training features');
  const numClasses = checkLabels(train, 'mlp training features', o.numClasses);
  const hidden = o.hidden ?? [...MLP_DEFAULTS.hidden];
  let x = await l2NormalizedAsync(train);
  const st = (o.standardize ?? MLP_DEFAULTS.standardize) ? await fitStandardizerAsync(x) : undefined;
  if (st) x = await standardizeAsync(x, st);
  const dropout = hidden.map((_, l) => (l === 0 ? (o.dropout ?? MLP_DEFAULTS.dropout) : 0));
  const model = await fitDense({ ...x, labels: train.labels }, numClasses, { hidden, dropout }, o, MLP_DEFAULTS);
  return new MlpClassifier(model, st, o.threads ?? 0);
}
