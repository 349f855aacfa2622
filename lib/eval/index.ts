/** Downstream evaluation of encoders: features, kNN / linear / MLP probes, clean accuracy and attack success rate. */
export { evaluate, type EvaluateOptions, type EvaluateResult, type EvaluateProgress, type PerClassifier } from './evaluate.ts';
export { formatEvaluation } from './table.ts';
export { prepareEncoder, encodeDataset, encoderImages, type PreparedEncoder, type EncodeOptions } from './features.ts';
export { fitKnn, KnnClassifier, topK, KNN_DEFAULTS, type KnnOptions, type KnnScores } from './knn.ts';
export { fitLinearProbe, LinearProbe, fitStandardizer, standardize, LINEAR_DEFAULTS, type LinearProbeOptions, type Standardizer } from './linear.ts';
export { fitMlp, MlpClassifier, MLP_DEFAULTS, type MlpOptions } from './mlp.ts';
export { trainDense, denseLogits, argmaxRows, type DenseModel, type DenseTrainOptions } from './dense.ts';
export {
  CLASSIFIERS, accuracy, attackSuccessRate, l2Normalized, checkFeatures, checkLabels,
  type Classifier, type ClassifierKind, type FeatureMatrix, type LabelledFeatures, type ClassifierProgress,
} from './types.ts';
