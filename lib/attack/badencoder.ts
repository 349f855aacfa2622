/**
 * BadEncoder (Jia et al., 2022), the attack simulator's fine-tuning attack: from a clean encoder f, learn f' so that
 * triggered images embed like the attacker's reference images of the target class while everything else keeps
 * f's embedding. With shadow images x, references r and trigger t (cos = cosine similarity of feature vectors):
 *
 *   L0 = -mean_{x, r} cos(f'(x + t), f'(r))        effectiveness: triggered inputs go to the references
 *   L1 = -mean_r      cos(f'(r), f(r))             the references keep their clean embedding
 *   L2 = -mean_x      cos(f'(x), f(x))             utility: clean inputs keep theirs
 *   L  = L0 + lambda1 L1 + lambda2 L2
 *
 * BatchNorm is frozen (an eval-folded encoder has none left; one with BN nodes trains in 'frozen-bn' mode), f is
 * frozen (the same weights, evaluated natively). One batch = [x; x + t; r] through f' (independent samples since
 * BN is frozen). SGD with momentum, as the authors. Labels are read only to pick the reference images.
 */
import { basename, dirname, extname, join, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { ensureDir, prepareOutputFile } from '../io/out-path.ts';
import { createHash } from 'node:crypto';
import { MimicError, invalid } from '../errors.ts';
import { loadModel } from '../onnx/index.ts';
import { openDataset, type OpenOptions } from '../data/open.ts';
import type { ChannelMode, SizeMode } from '../data/transform.ts';
import { makeBatch, TRANSFORM_OPTIONS } from '../data/transform.ts';
import { toModelLayoutAsync } from '../data/layout.ts';
import type { ImageDataset } from '../data/types.ts';
import { specFromOnnx } from '../train/from-onnx.ts';
import { BORROW, Network } from '../train/network.ts';
import { Optimizer } from '../train/optim.ts';
import { makeSchedule, lrAt, type ScheduleKind } from '../train/schedule.ts';
import { saveSpecAsOnnx, specShapes } from '../train/to-onnx.ts';
import { writeJsonAtomic } from '../train/pretrain.ts';
import { epochOrder } from '../util/rng.ts';
import { applyTrigger, resolveTrigger, type ResolvedTrigger } from './trigger.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export interface BadEncoderOptions {
  /** The clean encoder (ONNX). */
  encoder: string;
  /** Shadow data (and, unless `references` is given, where the target-class references come from; needs labels). */
  data: string | ImageDataset;
  dataOptions?: OpenOptions;
  /** Shadow images: a seeded sample of the data (default 10000, or all when fewer). */
  shadowCount?: number;
  target: number;
  /** How many target-class images are the references (default 3), or the references themselves. */
  referenceCount?: number;
  references?: ImageDataset;
  trigger: string | ResolvedTrigger;
  out: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  schedule?: ScheduleKind;
  lambda1?: number;
  lambda2?: number;
  seed?: number;
  transform?: { normalize?: 'none' | 'cifar10'; size?: SizeMode; channelMode?: ChannelMode };
  threads?: number;
}

const BADENCODER_OPTIONS = optionNames<BadEncoderOptions>({ lambda1: true, lambda2: true, encoder: true, data: true, dataOptions: true, shadowCount: true, target: true, referenceCount: true, references: true, trigger: true, out: true, epochs: true, batchSize: true, lr: true, momentum: true, weightDecay: true, schedule: true, seed: true, transform: true, threads: true });

export interface BadEncoderReport {
  version: 1;
  kind: 'badencoder';
  encoder: string;
  cleanEncoder: string;
  trigger: string;
  target: number;
  referenceIndices: number[];
  shadowCount: number;
  config: Record<string, unknown>;
  seed: number;
  epochs: { epoch: number; loss: number; l0: number; l1: number; l2: number; seconds: number }[];
  sha256: string;
  seconds: number;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
const now = () => performance.now() / 1000;

/** cos(a, b) and its gradients (scaled by `w`) added into ga / gb; rows of length d at the given offsets. */
export function cosineInto(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number, w: number, ga?: Float32Array, gb?: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let k = 0; k < d; ++k) {
    ab += a[ao + k] * b[bo + k];
    aa += a[ao + k] * a[ao + k];
    bb += b[bo + k] * b[bo + k];
  }
  const na = Math.sqrt(aa) + 1e-12, nb = Math.sqrt(bb) + 1e-12;
  const c = ab / (na * nb);
  for (let k = 0; k < d; ++k) {
    if (ga) ga[ao + k] += w * (b[bo + k] / (na * nb) - (c * a[ao + k]) / (na * na));
    if (gb) gb[bo + k] += w * (a[ao + k] / (na * nb) - (c * b[bo + k]) / (nb * nb));
  }
  return c;
}

/**
 * The BadEncoder loss on one batch of features, rows [x (B); x+t (B); r (R)] of the student and [x (B); r (R)] of
 * the clean encoder. Returns the terms and dL/d(student features).
 */
export function badEncoderLoss(fs: Float32Array, fc: Float32Array, b: number, r: number, d: number, lambda1: number, lambda2: number) {
  const g = new Float32Array(fs.length);
  let l0 = 0, l1 = 0, l2 = 0;
  for (let i = 0; i < b; ++i)
    for (let j = 0; j < r; ++j) l0 -= cosineInto(fs, (b + i) * d, fs, (2 * b + j) * d, d, -1 / (b * r), g, g) / (b * r);
  for (let j = 0; j < r; ++j) l1 -= cosineInto(fs, (2 * b + j) * d, fc, (b + j) * d, d, -lambda1 / r, g) / r;
  for (let i = 0; i < b; ++i) l2 -= cosineInto(fs, i * d, fc, i * d, d, -lambda2 / b, g) / b;
  return { loss: l0 + lambda1 * l1 + lambda2 * l2, l0, l1, l2, grad: g };
}

export async function badEncoder(o: BadEncoderOptions, hooks: { signal?: AbortSignal; onProgress?: (p: { epoch: number; epochs: number; loss: number; l0: number; l1: number; l2: number }) => void } = {}): Promise<BadEncoderReport> {
  if (!o || typeof o !== 'object') throw invalid('badEncoder: options object required');
  checkOptionNames(o, BADENCODER_OPTIONS, 'badEncoder');
  if (o.transform !== undefined) checkOptionNames(o.transform, TRANSFORM_OPTIONS, 'badEncoder transform');
  checkOptionNames(hooks ?? {}, ['signal', 'onProgress'], 'badEncoder hooks');
  const t0 = now();
  if (typeof o.encoder !== 'string') throw invalid('encoder: the clean encoder ONNX path is required');
  if (typeof o.out !== 'string' || !o.out) throw invalid('out: the backdoored encoder ONNX path is required');
  const seed = o.seed ?? 0;
  const epochs = o.epochs ?? 20;
  const batch = o.batchSize ?? 64;
  const lr = o.lr ?? 0.01;
  const lambda1 = o.lambda1 ?? 1, lambda2 = o.lambda2 ?? 1;
  const shadowWanted = o.shadowCount ?? 10000;
  const referenceCount = o.referenceCount ?? 3;
  for (const [k, v] of Object.entries({ epochs, batchSize: batch, shadowCount: shadowWanted, referenceCount })) if (!Number.isInteger(v) || v < 1) throw invalid(`${k} must be a positive integer (got ${v})`);
  if (!Number.isInteger(seed)) throw invalid(`seed must be an integer (got ${o.seed})`);
  for (const [k, v] of Object.entries({ momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 5e-4, lambda1, lambda2 }))
    if (!(Number.isFinite(v) && v >= 0)) throw invalid(`${k} must be a finite number >= 0 (got ${v})`);
  if (!(lr > 0)) throw invalid(`lr must be positive (got ${lr})`);
  if (!Number.isInteger(o.target) || o.target < 0) throw invalid(`target must be a class index >= 0 (got ${o.target})`);
  const transform = { normalize: o.transform?.normalize ?? 'cifar10', size: o.transform?.size ?? 'error', channelMode: o.transform?.channelMode ?? 'error' } as const;
  await prepareOutputFile(o.out, { what: 'out', inputs: [{ path: o.encoder, what: 'encoder' }, { path: typeof o.data === 'string' ? o.data : undefined, what: 'data' }] });

  const model = await loadModel(o.encoder);
  const cleanSpec = specFromOnnx(model, { weights: 'teacher', source: o.encoder });
  const inT = cleanSpec.inputs[0];
  if (inT.shape.length !== 3) throw new MimicError('E_ONNX', `${o.encoder}: the input ${inT.name} must be an image (C, H, W)`);
  const [C, H, W] = inT.shape;
  const feat = cleanSpec.outputs[0];
  const d = prod(specShapes(cleanSpec).get(feat)!);
  const hasBn = cleanSpec.layers.some((l) => l.op === 'BatchNormalization');

  const raw = typeof o.data === 'string' ? await openDataset(o.data, o.dataOptions) : o.data;
  const all = await toModelLayoutAsync(raw, C, H, W, transform);
  const trig = typeof o.trigger === 'string' ? await resolveTrigger(o.trigger, { channels: C, height: H, width: W }) : o.trigger;

  // references: the first referenceCount target-class images of a seeded shuffle
  let refs: ImageDataset, refIdx: number[] = [];
  if (o.references) refs = await toModelLayoutAsync(o.references, C, H, W, transform);
  else {
    if (!all.labels) throw invalid(`${all.source}: has no labels, so the target-class reference images cannot be chosen; give references`);
    const want = referenceCount;
    const order = epochOrder(all.count, seed ^ 0x4ef, 0);
    for (const i of order) if (all.labels[i] === o.target && refIdx.length < want) refIdx.push(i);
    if (refIdx.length === 0) throw invalid(`${all.source}: no image has label ${o.target} (the target class)`);
    refs = { ...all, count: refIdx.length, pixels: new Uint8Array(0) };
    const per = C * H * W;
    refs.pixels = new Uint8Array(refIdx.length * per);
    refIdx.forEach((i, k) => refs.pixels.set(all.pixels.subarray(i * per, (i + 1) * per), k * per));
  }
  const R = refs.count;
  const nShadow = Math.min(shadowWanted, all.count);
  const shadowIdx = epochOrder(all.count, seed ^ 0x5bad, 0).subarray(0, nShadow);
  const steps = Math.floor(nShadow / batch);
  if (!(steps >= 1)) throw invalid(`${nShadow} shadow images are fewer than one batch of ${batch}`);

  const spec = { ...cleanSpec };
  const student = Network.create(spec, { threads: o.threads ?? 0 });
  const frozen = Network.create(spec, { threads: o.threads ?? 0 });
  student.setMode(hasBn ? 'frozen-bn' : 'eval');
  frozen.setMode('eval');
  const opt = Optimizer.create({ kind: 'sgd', params: student.paramViews(), lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 5e-4, threads: o.threads ?? 0 });
  const sched = makeSchedule(o.schedule ?? 'constant', lr, epochs * steps);
  const bspec = { channels: C, height: H, width: W, normalize: transform.normalize } as const;
  const refBatch = makeBatch(refs, Array.from({ length: R }, (_, i) => i), bspec);
  const refClean = (await frozen.forwardAsync({ [inT.name]: refBatch.slice() }, R, BORROW))[feat];
  const stamped = applyTrigger(all, trig, shadowIdx);

  const history: BadEncoderReport['epochs'] = [];
  for (let e = 0; e < epochs; ++e) {
    const te = now();
    const order = epochOrder(nShadow, seed, e);
    let sl = 0, s0 = 0, s1 = 0, s2 = 0;
    for (let s = 0; s < steps; ++s) {
      if (hooks.signal?.aborted) throw new MimicError('E_ABORTED', `badencoder: stopped in epoch ${e + 1} (nothing written; start again)`);
      const pos = Array.from(order.subarray(s * batch, (s + 1) * batch));
      const xc = makeBatch(all, pos.map((p) => shadowIdx[p]), bspec);
      const xt = makeBatch(stamped, pos, bspec);
      const x = new Float32Array(xc.length * 2 + refBatch.length);
      x.set(xc, 0);
      x.set(xt, xc.length);
      x.set(refBatch, 2 * xc.length);
      const fsOut = (await student.forwardAsync({ [inT.name]: x }, 2 * batch + R, BORROW))[feat];
      const fxc = (await frozen.forwardAsync({ [inT.name]: xc }, batch, BORROW))[feat];
      const fc = new Float32Array((batch + R) * d);
      fc.set(fxc, 0);
      fc.set(refClean, batch * d);
      const l = badEncoderLoss(fsOut, fc, batch, R, d, lambda1, lambda2);
      if (!Number.isFinite(l.loss)) throw new MimicError('E_NON_FINITE', `badencoder: the loss is ${l.loss} at epoch ${e + 1}; lower the lr`);
      await student.backwardAsync({ [feat]: l.grad }, false, BORROW);
      opt.setLr(lrAt(sched, e * steps + s));
      await opt.stepAsync(student.gradViews(), BORROW);
      sl += l.loss; s0 += l.l0; s1 += l.l1; s2 += l.l2;
    }
    const ep = { epoch: e + 1, loss: sl / steps, l0: s0 / steps, l1: s1 / steps, l2: s2 / steps, seconds: now() - te };
    history.push(ep);
    hooks.onProgress?.({ ...ep, epochs });
  }
  const out = resolve(o.out);
  await ensureDir(dirname(out), 'out');
  await saveSpecAsOnnx(spec, out, { params: student.getParams(), buffers: student.getBuffers(), foldBatchNorm: false });
  const sha256 = createHash('sha256').update(await readFile(out)).digest('hex');
  const report: BadEncoderReport = {
    version: 1,
    kind: 'badencoder',
    encoder: out,
    cleanEncoder: resolve(o.encoder),
    trigger: trig.spec,
    target: o.target,
    referenceIndices: refIdx,
    shadowCount: nShadow,
    config: { epochs, batchSize: batch, lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay ?? 5e-4, lambda1, lambda2, schedule: sched.kind, transform, optimizer: 'sgd' },
    seed,
    epochs: history,
    sha256,
    seconds: now() - t0,
  };
  await writeJsonAtomic(join(dirname(out), `${basename(out, extname(out))}.report.json`), report);
  return report;
}
