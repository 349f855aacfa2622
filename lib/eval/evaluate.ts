/**
 * evaluate: how an encoder serves a labelled downstream task, and how far a trigger hijacks it.
 *
 * The encoder maps seeded subsets of a labelled train and test set to features (features.ts). Classifiers are
 * trained on the CLEAN train features only (labels are used here and nowhere in the defence): weighted kNN, a
 * linear probe, BadEncoder's MLP. Then:
 *   cleanAccuracy[c] = accuracy of c on the clean test features;
 *   asr[c]           = fraction of the triggered test images whose true label is not the target that c assigns
 *                      to the target (BadEncoder's attack success rate);
 *   asrAll[c]        = the same fraction over every triggered test image (target-class images included).
 * Rates are fractions in [0, 1].
 */
import { MimicError, invalid, checkAborted } from '../errors.ts';
import { openDataset, type OpenOptions } from '../data/open.ts';
import { selectIndices } from '../data/subset.ts';
import { checkDataset, subsetDataset, type ImageDataset } from '../data/types.ts';
import type { ChannelMode, Normalization, NormalizationPreset, SizeMode } from '../data/transform.ts';
import { parseTriggerSpec, resolveTrigger, type ResolvedTrigger, type Trigger } from '../attack/trigger.ts';
import type { ModelProto } from '../onnx/index.ts';
import { encodeDataset, prepareEncoder } from './features.ts';
import { checkKnnOptions, fitKnn, KNN_DEFAULTS } from './knn.ts';
import { fitLinearProbe, LINEAR_DEFAULTS } from './linear.ts';
import { fitMlp, MLP_DEFAULTS } from './mlp.ts';
import { checkTrainOptions } from './dense.ts';
import { accuracy, attackSuccessRate, CLASSIFIERS, type ClassifierKind, type FeatureMatrix } from './types.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export interface EvaluateProgress {
  stage: 'encode-train' | 'encode-test' | 'encode-triggered' | ClassifierKind;
  /** Images (encode, knn) or epochs (linear, mlp) done so far. */
  done: number;
  total: number;
  /** linear / mlp: the epoch's mean training loss. */
  loss?: number;
}

export interface EvaluateOptions {
  /** The encoder: an ONNX path, its bytes or a loaded model. */
  encoder: string | Uint8Array | ModelProto;
  /** Labelled images: a dataset in memory or a path openDataset reads (with trainOptions / testOptions). */
  train: ImageDataset | string;
  test: ImageDataset | string;
  trainOptions?: OpenOptions;
  testOptions?: OpenOptions;
  /** A trigger spec ('white:10@21,21', see lib/attack/trigger.ts), parsed trigger, or one resolved for the model's input layout. */
  trigger?: string | Trigger | ResolvedTrigger;
  /** The attack's target class (needed with a trigger). */
  target?: number;
  /** Default all three: ['knn', 'linear', 'mlp']. */
  classifiers?: ClassifierKind[];
  knn?: { k?: number; t?: number };
  linear?: { epochs?: number; batchSize?: number; lr?: number; weightDecay?: number };
  mlp?: { epochs?: number; batchSize?: number; lr?: number; weightDecay?: number; hidden?: number[]; dropout?: number; standardize?: boolean };
  /** Feature tensor (default: the model's first output). */
  features?: string;
  /** Input normalisation (default 'none'), size and channel adaptation (default 'error'), as makeBatch. */
  normalize?: NormalizationPreset | Normalization;
  size?: SizeMode;
  channelMode?: ChannelMode;
  /** Seeded random subsets (default: every image). */
  trainCount?: number;
  testCount?: number;
  /** Seeds the subsets (train: seed, test: seed + 1) and the classifiers (default 0). */
  seed?: number;
  /** Engine threads for GEMM and training (0 / absent: the engine's pool). */
  threads?: number;
  /** onnxruntime intra-op threads (default 1). */
  encoderThreads?: number;
  batchSize?: number;
  provider?: 'cpu' | 'cuda';
  onProgress?: (p: EvaluateProgress) => void;
  onMessage?: (message: string) => void;
  signal?: AbortSignal;
  /** [C, H, W] for an encoder whose input leaves H and W free. */
  inputShape?: number[];
}

const EVALUATE_OPTIONS = optionNames<EvaluateOptions>({ encoder: true, train: true, test: true, trainOptions: true, testOptions: true, trigger: true, target: true, classifiers: true, knn: true, linear: true, mlp: true, features: true, normalize: true, size: true, channelMode: true, trainCount: true, testCount: true, seed: true, threads: true, encoderThreads: true, batchSize: true, provider: true, onProgress: true, onMessage: true, signal: true, inputShape: true });
const KNN_OPTIONS = optionNames<NonNullable<EvaluateOptions['knn']>>({ k: true, t: true });
const LINEAR_OPTIONS = optionNames<NonNullable<EvaluateOptions['linear']>>({ epochs: true, batchSize: true, lr: true, weightDecay: true });
const MLP_OPTIONS = optionNames<NonNullable<EvaluateOptions['mlp']>>({ epochs: true, batchSize: true, lr: true, weightDecay: true, hidden: true, dropout: true, standardize: true });

export type PerClassifier = Partial<Record<ClassifierKind, number>>;

export interface EvaluateResult {
  encoder: { source: string; input: string; inputShape: [number, number, number]; features: string; featureDim: number };
  data: {
    train: { source: string; name: string; count: number; selected: number };
    test: { source: string; name: string; count: number; selected: number };
  };
  cleanAccuracy: PerClassifier;
  /** Over triggered test images whose label is not the target. */
  asr?: PerClassifier;
  /** Over every triggered test image. */
  asrAll?: PerClassifier;
  counts: { train: number; test: number; testNonTarget?: number; classes: number };
  /** Mean training loss per epoch (linear, mlp). */
  losses: Partial<Record<'linear' | 'mlp', number[]>>;
  /** encode: loading the model and data and encoding every set; per classifier: training and prediction. */
  seconds: { encode: number; total: number } & PerClassifier;
  config: {
    classifiers: ClassifierKind[];
    trigger: string | null;
    target: number | null;
    knn?: { k: number; t: number };
    linear?: { epochs: number; batchSize: number; lr: number; weightDecay: number; standardize: true };
    mlp?: { hidden: number[]; dropout: number; epochs: number; batchSize: number; lr: number; weightDecay: number; standardize: boolean; l2Normalize: true };
    normalize: NormalizationPreset | Normalization;
    size: SizeMode;
    channelMode: ChannelMode;
    seed: number;
    trainCount: number | null;
    testCount: number | null;
  };
  provider: 'cpu' | 'cuda';
}

function isResolved(t: unknown): t is ResolvedTrigger {
  return typeof t === 'object' && t !== null && (t as ResolvedTrigger).mask instanceof Float32Array && (t as ResolvedTrigger).pattern instanceof Uint8Array;
}

function classifierList(list: ClassifierKind[] | undefined): ClassifierKind[] {
  const l = list ?? [...CLASSIFIERS];
  if (!Array.isArray(l) || l.length === 0) throw invalid(`classifiers: name at least one of ${CLASSIFIERS.join(', ')}`);
  const seen = new Set<ClassifierKind>();
  for (const c of l) {
    if (!CLASSIFIERS.includes(c)) throw invalid(`unknown classifier ${JSON.stringify(c)}: choose from ${CLASSIFIERS.join(', ')}`);
    if (seen.has(c)) throw invalid(`classifier '${c}' is named twice`);
    seen.add(c);
  }
  return [...seen];
}

function labelsOf(ds: ImageDataset, role: 'train' | 'test'): Int32Array {
  if (!ds.labels)
    throw invalid(
      `the ${role} set ${ds.source} has no labels; evaluation needs labelled train and test images ` +
        '(IDX with its labels file, CIFAR batches, NPZ with a label array, or a PNG folder with labels.csv)',
    );
  for (let i = 0; i < ds.labels.length; ++i)
    if (ds.labels[i] < 0) throw invalid(`the ${role} set ${ds.source}: label of image ${i} is ${ds.labels[i]}; labels must be 0, 1, 2, ...`);
  return ds.labels;
}

function maxLabel(y: Int32Array): number {
  let m = -1;
  for (let i = 0; i < y.length; ++i) if (y[i] > m) m = y[i];
  return m;
}

function pickSubset(ds: ImageDataset, count: number | undefined, seed: number, what: string): ImageDataset {
  if (count === undefined) return ds;
  if (!Number.isInteger(count) || count < 1) throw invalid(`${what} must be a positive integer (got ${count})`);
  if (count >= ds.count) return ds;
  return subsetDataset(ds, selectIndices(ds, { count, seed }), `${ds.name} (${count} of ${ds.count}, seed ${seed})`);
}

export async function evaluate(o: EvaluateOptions): Promise<EvaluateResult> {
  if (!o || typeof o !== 'object') throw invalid('evaluate: options object required');
  checkOptionNames(o, EVALUATE_OPTIONS, 'evaluate');
  if (o.knn !== undefined) checkOptionNames(o.knn, KNN_OPTIONS, 'evaluate knn');
  if (o.linear !== undefined) checkOptionNames(o.linear, LINEAR_OPTIONS, 'evaluate linear');
  if (o.mlp !== undefined) checkOptionNames(o.mlp, MLP_OPTIONS, 'evaluate mlp');
  checkAborted(o.signal, 'evaluate');
  const t0 = performance.now();
  const classifiers = classifierList(o.classifiers);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw invalid(`seed must be an integer (got ${o.seed})`);
  if ((o.trigger === undefined) !== (o.target === undefined))
    throw invalid(o.trigger === undefined ? `target ${o.target} is given without a trigger` : 'a trigger needs a target class (target)');
  const normalize = o.normalize ?? 'none';
  const size = o.size ?? 'error';
  const channelMode = o.channelMode ?? 'error';
  const encoderThreads = o.encoderThreads ?? 1;

  // Cheap checks first: the model, the datasets' labels, the target, the trigger.
  const enc = await prepareEncoder(o.encoder, { features: o.features, threads: 1, inputShape: o.inputShape });
  checkAborted(o.signal, 'evaluate');
  const trainAll = typeof o.train === 'string' ? await openDataset(o.train, o.trainOptions) : o.train;
  const testAll = typeof o.test === 'string' ? await openDataset(o.test, o.testOptions) : o.test;
  checkDataset(trainAll);
  checkDataset(testAll);
  const numClasses = Math.max(maxLabel(labelsOf(trainAll, 'train')), maxLabel(labelsOf(testAll, 'test'))) + 1;
  if (trainAll.count < 1 || testAll.count < 1) throw invalid(`the ${trainAll.count < 1 ? 'train' : 'test'} set is empty`);
  const target = o.target;
  if (target !== undefined && (!Number.isInteger(target) || target < 0 || target >= numClasses))
    throw invalid(`target ${target} is outside the label range 0..${numClasses - 1} of ${trainAll.source} / ${testAll.source}`);
  const [c, h, w] = enc.inputShape;
  let trigger: ResolvedTrigger | undefined;
  if (o.trigger !== undefined) {
    if (isResolved(o.trigger)) {
      if (o.trigger.channels !== c || o.trigger.height !== h || o.trigger.width !== w)
        throw new MimicError('E_SHAPE_MISMATCH', `trigger ${o.trigger.spec} is laid out for ${o.trigger.channels}x${o.trigger.height}x${o.trigger.width} images; the encoder takes ${c}x${h}x${w}`);
      trigger = o.trigger;
    } else {
      const parsed = typeof o.trigger === 'string' ? parseTriggerSpec(o.trigger) : o.trigger;
      trigger = await resolveTrigger(parsed, { channels: c, height: h, width: w });
    }
  }
  const knnOpts = { k: o.knn?.k ?? KNN_DEFAULTS.k, t: o.knn?.t ?? KNN_DEFAULTS.t };
  const linOpts = { epochs: o.linear?.epochs ?? LINEAR_DEFAULTS.epochs, batchSize: o.linear?.batchSize ?? LINEAR_DEFAULTS.batchSize, lr: o.linear?.lr ?? LINEAR_DEFAULTS.lr, weightDecay: o.linear?.weightDecay ?? LINEAR_DEFAULTS.weightDecay };
  const mlpOpts = {
    hidden: o.mlp?.hidden ?? [...MLP_DEFAULTS.hidden],
    dropout: o.mlp?.dropout ?? MLP_DEFAULTS.dropout,
    epochs: o.mlp?.epochs ?? MLP_DEFAULTS.epochs,
    batchSize: o.mlp?.batchSize ?? MLP_DEFAULTS.batchSize,
    lr: o.mlp?.lr ?? MLP_DEFAULTS.lr,
    weightDecay: o.mlp?.weightDecay ?? MLP_DEFAULTS.weightDecay,
    standardize: o.mlp?.standardize ?? MLP_DEFAULTS.standardize,
  };
  // the classifiers' settings are checked now, not after encoding every image
  if (classifiers.includes('knn')) checkKnnOptions(knnOpts.k, knnOpts.t);
  if (classifiers.includes('linear')) checkTrainOptions({ ...linOpts, hidden: [], seed });
  if (classifiers.includes('mlp')) checkTrainOptions({ ...mlpOpts, dropout: [mlpOpts.dropout], seed });

  const train = pickSubset(trainAll, o.trainCount, seed, 'trainCount');
  const test = pickSubset(testAll, o.testCount, seed + 1, 'testCount');
  const yTrain = train.labels!, yTest = test.labels!;

  // Features.
  const common = { normalize, size, channelMode, batchSize: o.batchSize, threads: encoderThreads, provider: o.provider, onMessage: o.onMessage, signal: o.signal };
  const progress = (stage: EvaluateProgress['stage']) => (done: number, total: number) => o.onProgress?.({ stage, done, total });
  const fTrain = await encodeDataset(enc, train, { ...common, onProgress: progress('encode-train') });
  const fTest = await encodeDataset(enc, test, { ...common, onProgress: progress('encode-test') });
  const fTrig = trigger ? await encodeDataset(enc, test, { ...common, trigger, onProgress: progress('encode-triggered') }) : undefined;
  const t1 = performance.now();

  // Classifiers, trained on the clean train features.
  const labelled = { data: fTrain.data, rows: fTrain.rows, cols: fTrain.cols, labels: yTrain };
  const cleanAccuracy: PerClassifier = {};
  const asr: PerClassifier = {};
  const asrAll: PerClassifier = {};
  const seconds: EvaluateResult['seconds'] = { encode: (t1 - t0) / 1000, total: 0 };
  const losses: EvaluateResult['losses'] = {};
  const threads = o.threads ?? 0;
  for (const kind of classifiers) {
    checkAborted(o.signal, 'evaluate');
    const s0 = performance.now();
    const onEpoch = (epoch: number, epochs: number, loss: number) => o.onProgress?.({ stage: kind, done: epoch, total: epochs, loss });
    let predict: (x: FeatureMatrix) => Promise<Int32Array>;
    if (kind === 'knn') {
      const knn = fitKnn(labelled, { ...knnOpts, numClasses, threads, signal: o.signal });
      const total = fTest.rows + (fTrig?.rows ?? 0);
      let before = 0;
      predict = async (x) => {
        const p = await knn.predict(x, (done) => o.onProgress?.({ stage: 'knn', done: before + done, total }));
        before += x.rows;
        return p;
      };
    } else if (kind === 'linear') {
      const lin = await fitLinearProbe(labelled, { ...linOpts, numClasses, seed, threads, signal: o.signal, onEpoch });
      losses.linear = lin.model.losses;
      predict = (x) => lin.predict(x);
    } else {
      const mlp = await fitMlp(labelled, { ...mlpOpts, numClasses, seed, threads, signal: o.signal, onEpoch });
      losses.mlp = mlp.model.losses;
      predict = (x) => mlp.predict(x);
    }
    cleanAccuracy[kind] = accuracy(await predict(fTest), yTest);
    if (fTrig && target !== undefined) {
      const p = await predict(fTrig);
      asr[kind] = attackSuccessRate(p, target, yTest, true);
      asrAll[kind] = attackSuccessRate(p, target, yTest, false);
    }
    seconds[kind] = (performance.now() - s0) / 1000;
  }
  seconds.total = (performance.now() - t0) / 1000;

  let testNonTarget: number | undefined;
  if (target !== undefined) {
    testNonTarget = 0;
    for (let i = 0; i < yTest.length; ++i) if (yTest[i] !== target) ++testNonTarget;
  }
  const res: EvaluateResult = {
    encoder: { source: enc.source, input: enc.input, inputShape: enc.inputShape, features: enc.features, featureDim: enc.featureDim },
    data: {
      train: { source: trainAll.source, name: trainAll.name, count: trainAll.count, selected: train.count },
      test: { source: testAll.source, name: testAll.name, count: testAll.count, selected: test.count },
    },
    cleanAccuracy,
    counts: { train: train.count, test: test.count, ...(testNonTarget !== undefined ? { testNonTarget } : {}), classes: numClasses },
    losses,
    seconds,
    config: {
      classifiers,
      trigger: trigger?.spec ?? null,
      target: target ?? null,
      ...(classifiers.includes('knn') ? { knn: knnOpts } : {}),
      ...(classifiers.includes('linear') ? { linear: { ...linOpts, standardize: true as const } } : {}),
      ...(classifiers.includes('mlp') ? { mlp: { ...mlpOpts, l2Normalize: true as const } } : {}),
      normalize,
      size,
      channelMode,
      seed,
      trainCount: o.trainCount ?? null,
      testCount: o.testCount ?? null,
    },
    provider: fTrain.provider,
  };
  if (trigger) {
    res.asr = asr;
    res.asrAll = asrAll;
  }
  return res;
}
