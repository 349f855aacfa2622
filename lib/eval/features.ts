/**
 * Features of an image set under an ONNX encoder, for downstream evaluation. Per image, in this order:
 *   1. the model's layout: channels and size adapted as the options say (toModelLayoutAsync, uint8; 'pad' is exact,
 *      'resize' rounds the bilinear result back to uint8);
 *   2. the trigger, when one is given (applyTrigger: uint8, before normalisation, as BadEncoder stamps images);
 *   3. normalisation ('none' | 'cifar10' | { mean, std }, as makeBatch);
 * then onnxruntime (in a worker thread) on batches, gathering the feature tensor: the model's first output, or a
 * named tensor (`features`, exposed as an extra output when it is an intermediate one), flattened per image.
 */
import { MimicError } from '../errors.ts';
import { encodeModel, encoderImageInput, inferShapes, loadModel, summarize, withExtraOutputs, type ModelProto } from '../onnx/index.ts';
import { toModelLayoutAsync } from '../data/layout.ts';
import type { ChannelMode, Normalization, NormalizationPreset, SizeMode } from '../data/transform.ts';
import type { ImageDataset } from '../data/types.ts';
import { applyTrigger, type ResolvedTrigger } from '../attack/trigger.ts';
import { runTeacherOnDataset } from '../teacher/dataset-run.ts';
import type { FeatureMatrix } from './types.ts';

export interface PreparedEncoder {
  /** The path given, or '<bytes>'. */
  source: string;
  /** ONNX bytes with the feature tensor exposed as a graph output. */
  bytes: Uint8Array;
  input: string;
  /** [C, H, W] of the model's input. */
  inputShape: [number, number, number];
  features: string;
  featureDim: number;
  opset: number | null;
}

/** Loads the encoder, checks its input is an image batch and finds the feature tensor and its size. */
/** inputShape: [C, H, W] for an encoder whose input leaves H and W free. */
export async function prepareEncoder(encoder: string | Uint8Array | ModelProto, o: { features?: string; threads?: number; inputShape?: number[] } = {}): Promise<PreparedEncoder> {
  const source = typeof encoder === 'string' ? encoder : '<bytes>';
  const model = encoder instanceof Uint8Array || typeof encoder === 'string' ? await loadModel(encoder) : encoder;
  const input = encoderImageInput(model, source, 'encoder', o.inputShape);
  const [, c, h, w] = input.dims;
  const outputs = (model.graph?.output ?? []).map((v) => v.name ?? '');
  const features = o.features ?? outputs[0];
  if (!features) throw new MimicError('E_ONNX', `${source}: the model has no outputs`);
  const exposed = outputs.includes(features) ? model : withExtraOutputs(model, [features]);
  const shapes = await inferShapes(exposed, { batch: 2, tensors: [features], threads: o.threads ?? 1, inputShape: o.inputShape });
  const shape = shapes.get(features);
  if (!shape || shape.length < 2 || shape[0] !== 2)
    throw new MimicError('E_ONNX', `${source}: the feature tensor '${features}' has shape (${shape?.join(', ') ?? '?'}) on a batch of 2; expected (2, ...)`);
  const featureDim = shape.slice(1).reduce((a, b) => a * b, 1);
  return { source, bytes: encodeModel(exposed), input: input.name, inputShape: [c, h, w], features, featureDim, opset: summarize(model).opset };
}

export interface EncodeOptions {
  /** Applied in the model's layout before normalisation. */
  trigger?: ResolvedTrigger;
  normalize?: NormalizationPreset | Normalization;
  size?: SizeMode;
  channelMode?: ChannelMode;
  batchSize?: number;
  /** onnxruntime intra-op threads (default 1). */
  threads?: number;
  provider?: 'cpu' | 'cuda';
  onMessage?: (message: string) => void;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The dataset in the encoder's layout, stamped with the trigger when one is given (uint8, not normalised). */
export async function encoderImages(enc: Pick<PreparedEncoder, 'inputShape'>, ds: ImageDataset, o: Pick<EncodeOptions, 'trigger' | 'size' | 'channelMode'> = {}): Promise<ImageDataset> {
  const [c, h, w] = enc.inputShape;
  const laid = await toModelLayoutAsync(ds, c, h, w, { size: o.size, channelMode: o.channelMode });
  return o.trigger ? applyTrigger(laid, o.trigger) : laid;
}

/** Features of every image of `ds` (rows in dataset order), and the execution provider that ran the encoder. */
export async function encodeDataset(enc: PreparedEncoder, ds: ImageDataset, o: EncodeOptions = {}): Promise<FeatureMatrix & { provider: 'cpu' | 'cuda' }> {
  const images = await encoderImages(enc, ds, o);
  const [channels, height, width] = enc.inputShape;
  const run = await runTeacherOnDataset({
    model: enc.bytes,
    data: images,
    spec: { channels, height, width, normalize: o.normalize ?? 'none' },
    tensors: [{ name: enc.features, size: enc.featureDim }],
    batchSize: o.batchSize,
    threads: o.threads,
    provider: o.provider,
    onMessage: o.onMessage,
    onProgress: o.onProgress,
    signal: o.signal,
  });
  const data = run.outputs[0];
  for (let i = 0; i < data.length; ++i)
    if (!Number.isFinite(data[i]))
      throw new MimicError('E_NON_FINITE', `${enc.source}: feature ${i % enc.featureDim} of image ${Math.floor(i / enc.featureDim)} of ${ds.name} is ${data[i]}`);
  return { data, rows: ds.count, cols: enc.featureDim, provider: run.provider };
}
