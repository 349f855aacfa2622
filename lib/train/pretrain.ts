/**
 * pretrain(): SimCLR pre-training of an encoder, natively (the attack simulator's starting point, and the clean
 * reference encoder of the benchmarks). The backbone is the built-in CIFAR ResNet-18 (lib/train/models.ts, width
 * configurable) or a fresh replica of an ONNX template; a projection head Gemm -> ReLU -> Gemm; both views of a
 * batch go through the backbone as one 2B batch; NT-Xent (tau); Adam with an optional cosine schedule.
 *
 * Poisoning (`mimic attack poison`) is pretraining on a dataset where some target-class images carry a trigger:
 * build that dataset with poisonDataset() (lib/attack/poison.ts) and pass it here; pretraining itself never sees
 * labels. A checkpoint is written atomically after every epoch; `resume` continues from the last finished epoch
 * (an abort keeps the previous epoch's checkpoint). The lr schedule keeps the length of the first run.
 */
import { basename, dirname, extname, join, resolve } from 'node:path';
import { ensureDir, prepareOutputDir, prepareOutputFile } from '../io/out-path.ts';
import { MimicError, invalid } from '../errors.ts';
import { native } from '../native.ts';
import { loadModel } from '../onnx/index.ts';
import { openDataset, type OpenOptions } from '../data/open.ts';
import type { ChannelMode, SizeMode } from '../data/transform.ts';
import { toModelLayoutAsync } from '../data/layout.ts';
import type { ImageDataset } from '../data/types.ts';
import { epochOrder } from '../util/rng.ts';
import { posInt, posNum } from '../util/check.ts';
import { twoViewsAsync, type AugmentParams, type AugmentNormalize } from './augment.ts';
import { specFromOnnx } from './from-onnx.ts';
import { cifarResNet18Spec } from './models.ts';
import { headSpec, HEAD_INPUT, HEAD_OUTPUT } from './head.ts';
import { BORROW, Network } from './network.ts';
import { Optimizer, type OptimizerState } from './optim.ts';
import { makeSchedule, lrAt, type ScheduleKind } from './schedule.ts';
import type { NetworkSpec } from './spec.ts';
import { saveSpecAsOnnx, specShapes, type OnnxIo } from './to-onnx.ts';
import { claimCheckpointDir, holdingRun, readCheckpoint, writeCheckpoint, type RunHold } from './clean-checkpoint.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';
import { TRANSFORM_OPTIONS } from '../data/transform.ts';
import { writeFileAtomic } from '../io/atomic.ts';

export interface ArchitectureOptions {
  /** An ONNX encoder whose architecture (not weights) is used; otherwise the built-in CIFAR ResNet-18. */
  template?: string;
  /** With a template: start from its weights (fine-tuning) instead of a fresh replica. Default false. */
  templateWeights?: boolean;
  /** Built-in ResNet-18: base width (default 8), input channels (3), image side (32). */
  width?: number;
  inChannels?: number;
  imageSize?: number;
}

export interface PretrainOptions {
  data: string | ImageDataset;
  dataOptions?: OpenOptions;
  /** Use only the first `count` images of a seeded shuffle of the data (default: all). */
  count?: number;
  architecture?: ArchitectureOptions;
  out: string;
  outDir?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  schedule?: ScheduleKind;
  warmupEpochs?: number;
  tau?: number;
  projectionDim?: number;
  seed?: number;
  transform?: { normalize?: 'none' | 'cifar10'; size?: SizeMode; channelMode?: ChannelMode };
  augment?: Omit<AugmentParams, 'normalize'>;
  threads?: number;
  keepBatchNorm?: boolean;
  resume?: boolean;
  /** Start over even when outDir holds an unfinished run (default: refuse, so that its progress is not lost). */
  restart?: boolean;
  /** Recorded in the report (the poisoning attack describes itself here). */
  provenance?: Record<string, unknown>;
}

const PRETRAIN_OPTIONS = optionNames<PretrainOptions>({ data: true, dataOptions: true, count: true, architecture: true, out: true, outDir: true, epochs: true, batchSize: true, lr: true, weightDecay: true, schedule: true, warmupEpochs: true, tau: true, projectionDim: true, seed: true, transform: true, augment: true, threads: true, keepBatchNorm: true, resume: true, restart: true, provenance: true });

export interface PretrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
  epochDone?: boolean;
  etaSeconds?: number;
}

export interface PretrainReport {
  version: 1;
  kind: 'simclr-pretrain';
  config: Record<string, unknown>;
  seed: number;
  data: { source: string; count: number };
  architecture: string;
  epochs: { epoch: number; loss: number; seconds: number }[];
  seconds: number;
  outputs: { encoder: string; report: string };
  provenance?: Record<string, unknown>;
}

const now = () => performance.now() / 1000;
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

type NtXent = (a: Record<string, unknown>) => Promise<{ loss: number; grad: Float32Array }>;

/** The first n images (labels kept) of a seeded shuffle of the dataset: the pre-training set. */
export function sampleImages(ds: ImageDataset, n: number, seed: number): ImageDataset {
  if (!Number.isInteger(n) || n < 1) throw invalid(`count must be a positive integer (got ${n})`);
  if (n > ds.count) throw invalid(`count ${n} is more than the ${ds.count} images of ${ds.source}`);
  if (n === ds.count) return ds;
  const pick = epochOrder(ds.count, seed ^ 0xc0de, 0).subarray(0, n);
  const per = ds.channels * ds.height * ds.width;
  const px = new Uint8Array(n * per);
  const labels = ds.labels ? new Int32Array(n) : undefined;
  pick.forEach((i, k) => {
    px.set(ds.pixels.subarray(i * per, (i + 1) * per), k * per);
    if (labels) labels[k] = ds.labels![i];
  });
  return { ...ds, count: n, pixels: px, labels, name: `${ds.name} (${n} images)` };
}

/** The encoder spec to train: a fresh replica of the template, or the built-in ResNet-18. */
export async function encoderSpec(a: ArchitectureOptions, seed: number): Promise<{ spec: NetworkSpec & { io?: OnnxIo }; name: string }> {
  if (a.templateWeights && !a.template) throw invalid('templateWeights (--init-from-template) needs a template (--template model.onnx)');
  if (a.template) {
    const model = await loadModel(a.template);
    if (a.templateWeights) return { spec: specFromOnnx(model, { weights: 'teacher', source: a.template }), name: `${a.template} (its weights, fine-tuned)` };
    return { spec: specFromOnnx(model, { weights: 'fresh', seed, source: a.template }), name: `fresh replica of ${a.template}` };
  }
  const width = posInt(a.width, 8, 'width');
  const inChannels = posInt(a.inChannels, 3, 'inChannels');
  const imageSize = posInt(a.imageSize, 32, 'imageSize');
  return { spec: cifarResNet18Spec({ width, seed, inChannels, imageSize }), name: `CIFAR ResNet-18, width ${width}, ${inChannels}x${imageSize}x${imageSize}` };
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await ensureDir(dirname(file), 'report folder');
  await writeFileAtomic(file, [Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8')], 'the report');
}

type PretrainHooks = { signal?: AbortSignal; onProgress?: (p: PretrainProgress) => void; onMessage?: (m: string) => void };

export async function pretrain(o: PretrainOptions, hooks: PretrainHooks = {}): Promise<PretrainReport> {
  return holdingRun((run) => runPretrain(o, hooks, run));
}

async function runPretrain(o: PretrainOptions, hooks: PretrainHooks, run: RunHold): Promise<PretrainReport> {
  const made = run.made;
  if (!o || typeof o !== 'object') throw invalid('pretrain: options object required');
  checkOptionNames(o, PRETRAIN_OPTIONS, 'pretrain');
  if (o.transform !== undefined) checkOptionNames(o.transform, TRANSFORM_OPTIONS, 'pretrain transform');
  checkOptionNames(hooks ?? {}, ['signal', 'onProgress', 'onMessage'], 'pretrain hooks');
  const t0 = now();
  if (typeof o.out !== 'string' || !o.out) throw invalid('out: the encoder ONNX path is required');
  const out = resolve(o.out);
  const outDir = resolve(o.outDir ?? join(dirname(out), `${basename(out, extname(out))}-pretrain`));
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed)) throw invalid(`seed must be an integer (got ${o.seed})`);
  const epochs = posInt(o.epochs, 50, 'epochs');
  const batch = posInt(o.batchSize, 256, 'batchSize');
  const lr = posNum(o.lr, 1e-3, 'lr');
  const weightDecay = posNum(o.weightDecay, 1e-6, 'weightDecay', true);
  const tau = posNum(o.tau, 0.5, 'tau');
  const projectionDim = posInt(o.projectionDim, 128, 'projectionDim');
  const warmupEpochs = posNum(o.warmupEpochs, 0, 'warmupEpochs', true);
  const threads = o.threads ?? 0;
  const transform = { normalize: o.transform?.normalize ?? 'cifar10', size: o.transform?.size ?? 'error', channelMode: o.transform?.channelMode ?? 'error' } as const;
  made.push(...(await prepareOutputFile(out, { what: 'out', inputs: [{ path: o.architecture?.template, what: 'template' }, { path: typeof o.data === 'string' ? o.data : undefined, what: 'data' }] })));
  made.push(...(await prepareOutputDir(outDir, 'outDir')), join(outDir, 'checkpoint'));
  run.claim = await claimCheckpointDir<{ epoch: number; config: { epochs: number } }>(join(outDir, 'checkpoint'), o, (m) => (m.epoch < m.config.epochs ? `epoch ${m.epoch} of ${m.config.epochs}` : null));

  const { spec, name: archName } = await encoderSpec(o.architecture ?? {}, seed);
  const [inT] = spec.inputs;
  if (inT.shape.length !== 3) throw new MimicError('E_ONNX', `the encoder's input ${inT.name} must be an image (C, H, W); it is [${inT.shape}]`);
  const [C, H, W] = inT.shape;
  const featName = spec.outputs[0];
  const featDim = prod(specShapes(spec).get(featName)!);

  const raw = typeof o.data === 'string' ? await openDataset(o.data, o.dataOptions) : o.data;
  let ds: ImageDataset = { name: raw.name, count: raw.count, channels: raw.channels, height: raw.height, width: raw.width, pixels: raw.pixels, source: raw.source };
  if (o.count !== undefined) ds = sampleImages(ds, posInt(o.count, 0, 'count'), seed);
  ds = await toModelLayoutAsync(ds, C, H, W, transform);
  const steps = Math.floor(ds.count / batch);
  if (steps < 1) throw invalid(`${ds.count} images are fewer than one batch of ${batch}`);
  const schedKind = o.schedule ?? 'cosine';
  if (schedKind === 'cosine' && warmupEpochs >= epochs) throw invalid(`warmupEpochs (${warmupEpochs}) must be below epochs (${epochs})`);
  let scheduleEpochs = epochs;

  const backbone = Network.create(spec, { threads });
  const head = Network.create(headSpec(featDim, featDim, projectionDim, seed), { threads });
  backbone.setMode('train');
  head.setMode('train');
  const opt = Optimizer.create({ kind: 'adam', params: [...backbone.paramViews(), ...head.paramViews()], lr, weightDecay, threads });
  const grads = [...backbone.gradViews(), ...head.gradViews()];
  const ntXent = (native() as unknown as { losses: { ntXent: NtXent } }).losses.ntXent;
  const normalize: AugmentNormalize = transform.normalize;

  const config = { epochs, batchSize: batch, lr, weightDecay, tau, projectionDim, schedule: schedKind, warmupEpochs, count: ds.count, transform, augment: o.augment ?? {}, architecture: archName };
  const ckptDir = join(outDir, 'checkpoint');
  const history: PretrainReport['epochs'] = [];
  let startEpoch = 0;
  await run.claim.dropOld(); // the inputs are checked: a restart now drops the old run's checkpoint
  if (o.resume) {
    const ck = await readCheckpoint<{ config: typeof config; seed: number; epoch: number; scheduleEpochs?: number; history: PretrainReport['epochs']; optimizer: Omit<OptimizerState, 'state'>; bp: string[]; bb: string[]; hp: string[] }>(ckptDir);
    if (JSON.stringify({ ...ck.meta.config, epochs: 0 }) !== JSON.stringify({ ...config, epochs: 0 }) || ck.meta.seed !== seed)
      throw invalid(`${ck.file}: made with another configuration or seed; resume needs the same options (only epochs may change)`);
    scheduleEpochs = ck.meta.scheduleEpochs ?? ck.meta.config.epochs;
    if (epochs < ck.meta.epoch) throw invalid(`${ck.file}: the checkpoint is at epoch ${ck.meta.epoch}, beyond epochs = ${epochs}`);
    if (schedKind === 'cosine' && epochs > scheduleEpochs)
      throw invalid(`${ck.file}: its cosine lr schedule was laid out for ${scheduleEpochs} epochs; epochs = ${epochs} would run past its end (use --schedule constant, or start a new run)`);
    const pick = (p: string, names: string[]) => Object.fromEntries(names.map((n) => [n, ck.tensors[p + n]]));
    backbone.setParams(pick('param:', ck.meta.bp));
    backbone.setBuffers(pick('buffer:', ck.meta.bb));
    head.setParams(pick('head:', ck.meta.hp));
    opt.loadState({ ...ck.meta.optimizer, state: ck.tensors['optimizer'] });
    startEpoch = ck.meta.epoch;
    history.push(...ck.meta.history);
    hooks.onMessage?.(`resuming from ${ck.file} at epoch ${startEpoch + 1}`);
  }
  const sched = makeSchedule(schedKind, lr, scheduleEpochs * steps, Math.round(warmupEpochs * steps));
  const snapshot = async (epoch: number) => {
    const bp = backbone.getParams(), bb = backbone.getBuffers(), hp = head.getParams();
    const { state, ...optimizer } = opt.saveState('float32');
    const t: Record<string, Float32Array> = { optimizer: state as Float32Array };
    for (const [k, v] of Object.entries(bp)) t['param:' + k] = v;
    for (const [k, v] of Object.entries(bb)) t['buffer:' + k] = v;
    for (const [k, v] of Object.entries(hp)) t['head:' + k] = v;
    await writeCheckpoint(ckptDir, { config, seed, epoch, scheduleEpochs, history, optimizer, bp: Object.keys(bp), bb: Object.keys(bb), hp: Object.keys(hp) }, t);
  };

  const views = (order: Int32Array, s: number, g: number) =>
    twoViewsAsync(ds, order.subarray(s * batch, (s + 1) * batch), { ...config.augment, seed, counter: g, size: [H, W], threads, normalize });
  for (let epoch = startEpoch; epoch < epochs; ++epoch) {
    const order = epochOrder(ds.count, seed, epoch);
    const te = now();
    let sum = 0;
    let next = views(order, 0, epoch * steps);
    for (let s = 0; s < steps; ++s) {
      if (hooks.signal?.aborted) {
        await next.catch(() => {});
        throw new MimicError('E_ABORTED', epoch > 0 ? `pretrain: stopped in epoch ${epoch + 1}; ${ckptDir} holds the end of epoch ${epoch} (continue with --resume)` : 'pretrain: stopped in the first epoch, before any checkpoint (start again)');
      }
      const ts = now();
      const g = epoch * steps + s;
      const v = await next;
      if (s + 1 < steps) next = views(order, s + 1, g + 1);
      const x = new Float32Array(2 * v.view1.length);
      x.set(v.view1, 0);
      x.set(v.view2, v.view1.length);
      const f = (await backbone.forwardAsync({ [inT.name]: x }, undefined, BORROW))[featName];
      const u = (await head.forwardAsync({ [HEAD_INPUT]: f }, undefined, BORROW))[HEAD_OUTPUT];
      const r = await ntXent({ u, shape: [2 * batch, projectionDim], tau, async: true, borrow: true });
      if (!Number.isFinite(r.loss)) throw new MimicError('E_NON_FINITE', `pretrain: the loss is ${r.loss} at epoch ${epoch + 1}, step ${s + 1}; lower the lr (the last checkpoint is kept)`);
      const gf = (await head.backwardAsync({ [HEAD_OUTPUT]: r.grad }, true, BORROW))![HEAD_INPUT];
      await backbone.backwardAsync({ [featName]: gf }, false, BORROW);
      const lrNow = lrAt(sched, g);
      opt.setLr(lrNow);
      await opt.stepAsync(grads, BORROW);
      sum += r.loss;
      const dt = now() - ts;
      const done = s + 1 === steps;
      if (done) {
        history.push({ epoch: epoch + 1, loss: sum / steps, seconds: now() - te });
        await snapshot(epoch + 1);
      }
      hooks.onProgress?.({ epoch: epoch + 1, epochs, step: s + 1, steps, loss: r.loss, lr: lrNow, imagesPerSecond: batch / dt, epochDone: done, etaSeconds: ((epochs - epoch - 1) * steps + steps - s - 1) * dt });
    }
  }
  await ensureDir(dirname(out), 'out');
  await saveSpecAsOnnx(spec, out, { params: backbone.getParams(), buffers: backbone.getBuffers(), foldBatchNorm: !o.keepBatchNorm });
  const reportFile = join(outDir, 'report.json');
  const report: PretrainReport = {
    version: 1,
    kind: 'simclr-pretrain',
    config,
    seed,
    data: { source: ds.source, count: ds.count },
    architecture: archName,
    epochs: history,
    seconds: now() - t0,
    outputs: { encoder: out, report: reportFile },
    provenance: o.provenance,
  };
  await writeJsonAtomic(reportFile, report);
  return report;
}
