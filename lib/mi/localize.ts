/**
 * localize: which teacher layers hold the knowledge the features depend on (MIMIC step 3). The teacher runs on a
 * seeded clean subset (no augmentation) with its probe tensors exposed, in a worker thread; the batched KDE engine
 * estimates I(T_l; Z) for every probe against the L2-normalised features in one call; MIMIC's weights follow.
 */
import { MimicError, invalid, checkAborted } from '../errors.ts';
import { encodeModel, encoderImageInput, loadModel, prepareProbes, summarize } from '../onnx/index.ts';
import { openDataset, type OpenOptions } from '../data/open.ts';
import { NORMALIZATION_PRESETS, type BatchSpec, TRANSFORM_OPTIONS } from '../data/transform.ts';
import { selectSubset, type SubsetManifest } from '../data/subset.ts';
import type { ImageDataset } from '../data/types.ts';
import { runTeacherOnDataset } from '../teacher/dataset-run.ts';
import { estimateMI, normaliseBandwidth, QUANTITIES, type Bandwidth, type MIEstimate, type Quantity } from './estimate.ts';
import { mimicBeta, type BetaOptions } from './beta.ts';
import { buildInfo } from '../engine.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export interface LocalizeOptions {
  /** The suspect encoder: an ONNX file path or its bytes. */
  teacher: string | Uint8Array;
  /** Clean images: a path (any format openDataset reads) or a dataset already in memory. */
  data: string | ImageDataset;
  dataOptions?: OpenOptions;
  /** Probe tensors by name (default: the last 4-D map at each resolution before global pooling). */
  probes?: string[];
  /** Feature tensor (default: the model's first output), flattened and L2-normalised. */
  features?: string;
  /** Images used (default 2000, at most the dataset's size), a seeded random subset. */
  n?: number;
  seed?: number;
  /** How images become the model's input: normalisation, size and channel handling (default: none / error). */
  transform?: Omit<BatchSpec, 'channels' | 'height' | 'width'>;
  batchSize?: number;
  bandwidth?: Bandwidth | number[];
  featureBandwidth?: Bandwidth | number[];
  /** Estimated for every probe (default I_TZ, I_TZ_loo). */
  quantities?: readonly Quantity[];
  /** MIMIC weights: constants, and which estimate they come from (default I_TZ_loo at bandwidth index 0). */
  weights?: BetaOptions & { quantity?: Quantity; bandwidthIndex?: number };
  /** KDE threads (default all cores) and backend. */
  threads?: number;
  backend?: 'auto' | 'cpu' | 'cuda';
  /** onnxruntime intra-op threads (default: `threads`, the teacher runs alone) and execution provider (default 'cpu'). */
  teacherThreads?: number;
  provider?: 'cpu' | 'cuda';
  onProgress?: (p: { stage: 'teacher' | 'mi'; done: number; total: number }) => void;
  onMessage?: (message: string) => void;
  signal?: AbortSignal;
  /** [C, H, W] for a teacher whose input leaves H and W free. */
  inputShape?: number[];
}

const LOCALIZE_OPTIONS = optionNames<LocalizeOptions>({ teacher: true, data: true, dataOptions: true, probes: true, features: true, n: true, seed: true, transform: true, batchSize: true, bandwidth: true, featureBandwidth: true, quantities: true, weights: true, threads: true, backend: true, teacherThreads: true, provider: true, onProgress: true, onMessage: true, signal: true, inputShape: true });

export interface ProbeReport {
  name: string;
  /** Per-sample shape, e.g. [64, 32, 32]. */
  shape: number[];
  dim: number;
  scale: number;
  s2: number[];
  values: Partial<Record<Quantity, number[]>>;
  saturation: number[];
  beta: number;
}

export interface LocalizeResult {
  model: { source: string; input: string; inputShape: number[]; opset: number | null; irVersion: number };
  probes: ProbeReport[];
  features: { name: string; dim: number; scale: number; s2: number[] };
  beta: number[];
  weightsFrom: { quantity: Quantity; bandwidthIndex: number; base: number; momentum: number };
  n: number;
  lnN: number;
  bandwidth: MIEstimate['bandwidth'];
  subset: SubsetManifest;
  provider: 'cpu' | 'cuda';
  backend: string;
  seconds: { teacher: number; mi: number };
}

function positiveInt(v: number | undefined, dflt: number, what: string): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < 1) throw invalid(`${what} must be a positive integer (got ${v})`);
  return x;
}

function l2NormaliseRows(x: Float32Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; ++i) {
    let s = 0;
    for (let k = 0; k < cols; ++k) s += x[i * cols + k] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < cols; ++k) x[i * cols + k] *= inv;
  }
}

/** Everything about the options that needs no model or data, checked before the slow parts (minutes on big models). */
function checkOptionsEarly(o: LocalizeOptions): void {
  if (typeof o.teacher !== 'string' && !(o.teacher instanceof Uint8Array)) throw invalid('teacher: an ONNX file path or its bytes is required');
  if (typeof o.data !== 'string' && (o.data === null || typeof o.data !== 'object' || !(o.data.pixels instanceof Uint8Array)))
    throw invalid('data: a dataset path or an ImageDataset (with uint8 pixels) is required');
  positiveInt(o.n, 2000, 'n');
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw invalid(`seed must be an integer (got ${o.seed})`);
  if (o.batchSize !== undefined) positiveInt(o.batchSize, 64, 'batchSize');
  for (const [k, v] of [['threads', o.threads], ['teacherThreads', o.teacherThreads]] as const)
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw invalid(`${k} must be a non-negative integer (got ${v})`);
  if (o.provider !== undefined && o.provider !== 'cpu' && o.provider !== 'cuda') throw invalid(`provider must be 'cpu' or 'cuda' (got '${String(o.provider)}')`);
  const normalize = o.transform?.normalize;
  if (typeof normalize === 'string' && !(normalize in NORMALIZATION_PRESETS))
    throw invalid(`transform.normalize must be ${Object.keys(NORMALIZATION_PRESETS).map((k) => `'${k}'`).join(', ')} or { mean, std } (got '${normalize}')`);
  for (const q of [...(o.quantities ?? []), ...(o.weights?.quantity ? [o.weights.quantity] : [])])
    if (!QUANTITIES.includes(q)) throw invalid(`unknown quantity '${q}' (known: ${QUANTITIES.join(', ')})`);
  const bandwidths = normaliseBandwidth(o.bandwidth as Bandwidth | number[] | undefined, 'bandwidth').values.length;
  const bi = o.weights?.bandwidthIndex ?? 0;
  if (!Number.isInteger(bi) || bi < 0 || bi >= bandwidths) throw invalid(`weights.bandwidthIndex must be in [0, ${bandwidths - 1}] (got ${bi})`);
  if (o.weights !== undefined) checkOptionNames(o.weights, WEIGHTS_OPTIONS, 'localize weights');
  mimicBeta([1], betaOptions(o.weights)); // base and momentum
}

const WEIGHTS_OPTIONS = optionNames<NonNullable<LocalizeOptions['weights']>>({ base: true, momentum: true, quantity: true, bandwidthIndex: true });
const betaOptions = (w: LocalizeOptions['weights']): BetaOptions => ({ base: w?.base, momentum: w?.momentum });

export async function localize(o: LocalizeOptions): Promise<LocalizeResult> {
  if (!o || typeof o !== 'object') throw invalid('localize: options object required');
  checkOptionNames(o, LOCALIZE_OPTIONS, 'localize');
  if (o.transform !== undefined) checkOptionNames(o.transform, TRANSFORM_OPTIONS, 'localize transform');
  checkAborted(o.signal, 'localize');
  checkOptionsEarly(o);
  const source = typeof o.teacher === 'string' ? o.teacher : '<bytes>';
  const model = await loadModel(o.teacher);
  checkAborted(o.signal, 'localize');
  const summary = summarize(model);
  const input = encoderImageInput(model, source, 'teacher', o.inputShape);
  const [, channels, height, width] = input.dims;

  const probeSet = await prepareProbes(model, { probes: o.probes, features: o.features, threads: o.teacherThreads ?? 1, inputShape: o.inputShape });
  if (probeSet.probes.length === 0)
    throw new MimicError('E_ONNX', `${source}: no probe tensors found (no 4-D maps before global pooling): name them with 'probes'`);
  const perSample = (shape: number[]) => shape.slice(1);
  const size = (shape: number[]) => perSample(shape).reduce((a, b) => a * b, 1);

  const ds = typeof o.data === 'string' ? await openDataset(o.data, o.dataOptions) : o.data;
  checkAborted(o.signal, 'localize');
  const want = positiveInt(o.n, 2000, 'n');
  if (want > ds.count) o.onMessage?.(`n = ${want} is more than the ${ds.count} images of ${ds.source}: using all of them`);
  const subset = selectSubset(ds, { count: Math.min(want, ds.count), seed: o.seed ?? 0 });
  if (subset.selected < 2) throw invalid(`n: at least 2 images are needed (the dataset has ${ds.count})`);

  const spec: BatchSpec = { ...(o.transform ?? {}), channels, height, width };
  const t0 = performance.now();
  const tensors = [probeSet.features, ...probeSet.probes].map((p) => ({ name: p.name, size: size(p.shape) }));
  const run = await runTeacherOnDataset({
    model: encodeModel(probeSet.model),
    data: ds,
    indices: subset.indices,
    spec,
    tensors,
    batchSize: o.batchSize,
    threads: o.teacherThreads ?? (o.threads || buildInfo().threads),
    provider: o.provider,
    onMessage: o.onMessage,
    onProgress: o.onProgress && ((done, total) => o.onProgress!({ stage: 'teacher', done, total })),
    signal: o.signal,
  });
  const collected = { features: run.outputs[0], probes: run.outputs.slice(1), provider: run.provider };
  const t1 = performance.now();
  const n = subset.selected;
  const featDim = size(probeSet.features.shape);
  l2NormaliseRows(collected.features, n, featDim);

  const weightQuantity = o.weights?.quantity ?? 'I_TZ_loo';
  const quantities = [...new Set<Quantity>([...(o.quantities ?? ['I_TZ', 'I_TZ_loo']), weightQuantity])];
  o.onProgress?.({ stage: 'mi', done: 0, total: 1 });
  const est = await estimateMI({
    layers: probeSet.probes.map((p, i) => ({ data: collected.probes[i], rows: n, cols: size(p.shape), name: p.name })),
    features: { data: collected.features, rows: n, cols: featDim, name: probeSet.features.name },
    bandwidth: o.bandwidth,
    featureBandwidth: o.featureBandwidth,
    quantities,
    threads: o.threads,
    backend: o.backend,
    signal: o.signal,
    borrow: true, // the teacher's activations are this call's own
  });
  o.onProgress?.({ stage: 'mi', done: 1, total: 1 });
  const t2 = performance.now();

  const bandwidthIndex = o.weights?.bandwidthIndex ?? 0;
  if (!Number.isInteger(bandwidthIndex) || bandwidthIndex < 0 || bandwidthIndex >= est.bandwidth.values.length)
    throw invalid(`weights.bandwidthIndex must be in [0, ${est.bandwidth.values.length - 1}] (got ${bandwidthIndex})`);
  const beta = mimicBeta(
    est.layers.map((l) => l.values[weightQuantity]![bandwidthIndex]),
    betaOptions(o.weights),
  );
  return {
    model: { source, input: input.name, inputShape: [channels, height, width], opset: summary.opset, irVersion: summary.irVersion },
    probes: est.layers.map((l, i) => ({
      name: l.name,
      shape: perSample(probeSet.probes[i].shape),
      dim: l.dim,
      scale: l.scale,
      s2: l.s2,
      values: l.values,
      saturation: l.saturation,
      beta: beta[i],
    })),
    features: { name: probeSet.features.name, dim: featDim, scale: est.features!.scale, s2: est.features!.s2 },
    beta,
    weightsFrom: { quantity: weightQuantity, bandwidthIndex, base: o.weights?.base ?? 1000, momentum: o.weights?.momentum ?? 10000 },
    n,
    lnN: est.lnN,
    bandwidth: est.bandwidth,
    subset,
    provider: collected.provider,
    backend: est.backend,
    seconds: { teacher: (t1 - t0) / 1000, mi: (t2 - t1) / 1000 },
  };
}
