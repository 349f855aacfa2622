/**
 * clean(): the MIMIC distillation loop (shared/docs/MIMIC.md, step 4). A fresh student (the teacher's architecture,
 * torchvision-style weights, BatchNorm restored) plus a projection head (Gemm -> ReLU -> Gemm) learns from the
 * suspect teacher on a small clean unlabeled subset with
 *
 *   L = L_con(u1, u2) + sum_l beta_l L_att,l(A_S,l, A_T,l) + lambda_clone L_clone(z_S, z_T)
 *
 * where the teacher sees view 1 only (onnxruntime in its worker thread, its probe maps A_T and features z_T
 * exposed), the student sees both views (one 2B batch: view 1 rows first, so BatchNorm's batch statistics cover
 * both views), u = head(z_S) for both views, beta from the MI localisation (step 3). The fused native kernels give
 * each term's loss and gradient; the gradients into the student's features (head + clone) and probe maps (attention,
 * view-1 rows) are summed and back-propagated; Adam steps. The teacher's next batch is augmented and run while the
 * student's backward and optimiser step run.
 *
 * Determinism: the epoch's order is a Fisher-Yates shuffle driven by mulberry32(seed + epoch), the augmentation
 * is keyed by (seed, global step), the student by `seed`; a checkpoint (every epoch, and on abort) holds the
 * weights, BN buffers, optimiser state and the position, so `resume` reproduces an uninterrupted run.
 * Labels are dropped when the data is opened: nothing but the clean images reaches the loop.
 */
import { availableParallelism, cpus } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { writeReport } from '../report/write.ts';
import { attentionPanels, type AttentionPanel } from './clean-maps.ts';
import { resolveTrigger } from '../attack/trigger.ts';
import type { CleanReport as HtmlReport } from '../report/html.ts';
import { MimicError, invalid, checkAborted } from '../errors.ts';
import { buildInfo } from '../engine.ts';
import type { BuildInfo } from '../native.ts';
import { native } from '../native.ts';
import { encodeModel, encoderImageInput, loadModel, prepareProbes } from '../onnx/index.ts';
import { openDataset, type OpenOptions } from '../data/open.ts';
import { type SizeMode, type ChannelMode, type Normalization, type NormalizationPreset, TRANSFORM_OPTIONS } from '../data/transform.ts';
import { selectSubset, verifyManifest, type SubsetManifest } from '../data/subset.ts';
import { subsetDataset, type ImageDataset } from '../data/types.ts';
import { toModelLayoutAsync } from '../data/layout.ts';
import { ensureDir, prepareOutputDir, prepareOutputFile } from '../io/out-path.ts';
import { localize, type LocalizeResult, type ProbeReport } from '../mi/localize.ts';
import { sha256File, toolInfo, type ToolInfo } from '../report/provenance.ts';
import { mimicBeta } from '../mi/beta.ts';
import { TeacherRunner, type TensorOut } from '../teacher/runner.ts';
import { planTeacher, TEACHER_SCHEDULES, type TeacherSchedule } from '../teacher/schedule.ts';
import { epochOrder } from '../util/rng.ts';
import { posInt, posNum } from '../util/check.ts';
import { AUGMENT_DEFAULTS, twoViewsAsync, type AugmentParams, type AugmentNormalize } from './augment.ts';
import { perturbBatchAsync, type PerturbParams } from './perturb.ts';
import { makeSchedule, lrAt, type ScheduleKind } from './schedule.ts';
import { specFromOnnx } from './from-onnx.ts';
import { headSpec } from './head.ts';
import { BORROW, Network } from './network.ts';
import { Optimizer, type OptimizerState } from './optim.ts';
import { saveSpecAsOnnx, specShapes } from './to-onnx.ts';
import { claimCheckpointDir, holdingRun, readCheckpoint, writeCheckpoint, CHECKPOINT_FILE, type RunHold } from './clean-checkpoint.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export interface CleanOptions {
  /** The suspect encoder (ONNX file). */
  teacher: string;
  /** Clean images: a path openDataset reads, or a dataset in memory (its labels are ignored). */
  data: string | ImageDataset;
  dataOptions?: OpenOptions;
  /** The student ONNX to write. */
  out: string;
  /** Checkpoint and report folder (default: next to `out`, '<name>-mimic'). */
  outDir?: string;
  /** The defender's clean share: a fraction of the data (default 0.04) or a count. */
  cleanFraction?: number;
  cleanCount?: number;
  /** Default 30 (what README Results measured; the faithful method drifts back to the backdoor with more). */
  epochs?: number;
  /** Default 128 (drop_last: the epoch has floor(clean / batch) steps). */
  batchSize?: number;
  /** Adam: lr (default 1e-2) and L2 weight decay (default 1e-6). */
  lr?: number;
  weightDecay?: number;
  /** NT-Xent temperature (default 0.5). */
  tau?: number;
  /** lambda_clone (default 1). */
  cloneWeight?: number;
  /** beta_l = base + momentum * MI_l / sum MI (default 1000 / 10000). */
  betaBase?: number;
  betaMomentum?: number;
  /** Seeds the subset, the student, the head, the shuffles and the augmentation (default 0). */
  seed?: number;
  /** Projection head: hidden width (default the feature dim) and output dim (default 128). */
  projectionHidden?: number;
  projectionDim?: number;
  /** Ablations. */
  uniformBeta?: boolean;
  noAttention?: boolean;
  noClone?: boolean;
  noContrastive?: boolean;
  /** Probe tensors (default: localize's automatic choice) and the feature tensor (default: the first output). */
  probes?: string[];
  features?: string;
  /** How images become the teacher's input (as `mimic mi`); normalisation is applied after augmentation. */
  transform?: { normalize?: NormalizationPreset | Normalization; size?: SizeMode; channelMode?: ChannelMode };
  /** Augmentation parameters (SimCLR CIFAR defaults). */
  augment?: Omit<AugmentParams, 'normalize'>;
  /**
   * Perturbation-invariant distillation: the student sees a perturbed copy of view 1 (random patches, blends with
   * another clean image, high-frequency noise; lib/train/perturb.ts) while the teacher and the clone / attention
   * targets come from the unperturbed view 1. Default DEFAULT_PERTURB; null turns it off.
   */
  perturb?: PerturbParams | null;
  /** Perturb the student's view 1 only (default), or both of its views (view 2 feeds only the contrastive term). */
  perturbViews?: 1 | 2;
  /** The published method as written: no perturbation, constant lr, no warm-up (conflicting options are refused). */
  faithful?: boolean;
  /** Default 'cosine' (warm-up `warmupEpochs`, default 1), or 'constant' when faithful. */
  lrSchedule?: ScheduleKind;
  warmupEpochs?: number;
  /**
   * Engine threads (0 / default: the engine's pool) and the teacher's onnxruntime threads (default: 1 when it
   * overlaps the student, the student's threads when it runs inline; see `teacherSchedule`).
   */
  threads?: number;
  teacherThreads?: number;
  /**
   * When the teacher's batch runs: 'overlap' (during the student's previous step, in its worker thread), 'inline'
   * (before the student's step, alone), or 'auto' (default): overlap when the student's threads plus the teacher's
   * fit the cores (or the teacher runs on a GPU), inline otherwise. Timing only: the numbers are the same.
   */
  teacherSchedule?: TeacherSchedule;
  provider?: 'cpu' | 'cuda';
  /** Keep BatchNorm nodes in the exported student (default: folded into the convs). */
  keepBatchNorm?: boolean;
  /** [C, H, W] for a teacher whose input leaves H and W free (the exported student keeps them free). */
  inputShape?: number[];
  /**
   * Put BatchNorm back after the convs that PyTorch's export folded it into (default true; the rule:
   * lib/train/from-onnx.ts). A model whose biased convs never had BatchNorm (a plain VGG) reads the same: false
   * keeps the graph's layers as they are. The report lists the convs that got one (student.restoredBatchNorm).
   */
  restoreBatchNorm?: boolean;
  /** Images shown in the report's teacher-vs-student attention maps (default 4; 0 = none). */
  reportImages?: number;
  /** A trigger stamped on copies of those images for the report only (evaluation; never used in training). */
  evalTrigger?: string;
  /** Continue from outDir/checkpoint (same config; `epochs` may grow). */
  resume?: boolean;
  /** Start over even when outDir holds an unfinished run (default: refuse, so that its progress is not lost). */
  restart?: boolean;
  /** Testing hook: make the loss NaN at this global step (0-based). */
  faultInjection?: { nanAtStep?: number };
}

const CLEAN_OPTIONS = optionNames<CleanOptions>({ teacher: true, data: true, dataOptions: true, out: true, outDir: true, cleanFraction: true, cleanCount: true, epochs: true, batchSize: true, lr: true, weightDecay: true, tau: true, cloneWeight: true, betaBase: true, betaMomentum: true, seed: true, projectionHidden: true, projectionDim: true, uniformBeta: true, noAttention: true, noClone: true, noContrastive: true, probes: true, features: true, transform: true, augment: true, perturb: true, perturbViews: true, faithful: true, lrSchedule: true, warmupEpochs: true, threads: true, teacherThreads: true, teacherSchedule: true, provider: true, keepBatchNorm: true, restoreBatchNorm: true, inputShape: true, reportImages: true, evalTrigger: true, resume: true, restart: true, faultInjection: true });
const CLEAN_HOOKS = optionNames<CleanHooks>({ signal: true, onProgress: true, onMessage: true });

/** Each perturbation family's parameters when named without details (`--perturb patch,blend,noise`). */
export const PERTURB_FAMILIES: Required<PerturbParams> = {
  patch: { rate: 1, count: 2, sizeMin: 4, sizeMax: 16, fill: 'mixed' },
  blend: { rate: 0.25, alphaMin: 0.1, alphaMax: 0.3 },
  noise: { rate: 0.25, sigma: 0.1, kind: 'mixed' },
};

/**
 * The default perturbation (the defence's), chosen on the project's fixtures (bench/results.ts, README Results):
 * every student view 1 gets two random squares (4-16 px; gray, colour or noise texture) and full-image uniform
 * noise of amplitude 0.2 (in [0, 1] pixel units) = `--perturb patch,noise=1:sigma=0.2:kind=uniform`. The squares
 * alone (the first default, `--perturb patch`) removed the patch, poisoning and CTRL-style backdoors but left 10%
 * and 48% ASR on two of the three blended-noise-trigger teachers; with the noise every attack and seed measured
 * ends near the clean encoder's ASR.
 */
export const DEFAULT_PERTURB: PerturbParams = { patch: PERTURB_FAMILIES.patch, noise: { rate: 1, sigma: 0.2, kind: 'uniform' } };

// The parameters `--perturb` may set per family (FAMILY[=RATE][:KEY=VALUE]...), and how each is read.
const PERTURB_KEYS: Record<'patch' | 'blend' | 'noise', Record<string, 'number' | readonly string[]>> = {
  patch: { count: 'number', sizeMin: 'number', sizeMax: 'number', fill: ['gray', 'color', 'texture', 'mixed'] },
  blend: { alphaMin: 'number', alphaMax: 'number' },
  noise: { sigma: 'number', kind: ['uniform', 'checker', 'mixed'] },
};

/**
 * 'none' -> null; 'patch,blend=0.3' -> those families (PERTURB_FAMILIES' parameters, rates overridden);
 * 'patch,noise=1:sigma=0.2:kind=uniform' also overrides parameters (the native kernel checks their ranges).
 */
export function parsePerturbSpec(spec: string): PerturbParams | null {
  const t = String(spec).trim();
  if (t === 'none') return null;
  const out: PerturbParams = {};
  for (const part of t.split(',').map((x) => x.trim())) {
    const [head, ...params] = part.split(':').map((x) => x.trim());
    const [name, rate] = head.split('=').map((x) => x.trim());
    if (name in out) throw invalid(`--perturb: '${name}' is named twice`);
    if (name !== 'patch' && name !== 'blend' && name !== 'noise') throw invalid(`--perturb: '${name}' is not a family (patch, blend, noise) or 'none'`);
    const r = rate === undefined ? PERTURB_FAMILIES[name].rate : rate === '' ? NaN : Number(rate);
    if (!(r >= 0 && r <= 1)) throw invalid(`--perturb: the rate of ${name} must be in [0, 1] (got ${rate})`);
    const fam: Record<string, unknown> = { ...structuredClone(PERTURB_FAMILIES[name]), rate: r };
    for (const kv of params) {
      const [key, value] = kv.split('=').map((x) => x.trim());
      const kind = PERTURB_KEYS[name][key];
      if (!kind) throw invalid(`--perturb: ${name} has no parameter '${key}' (it has ${Object.keys(PERTURB_KEYS[name]).join(', ')})`);
      if (kind === 'number') {
        const v = value === undefined || value === '' ? NaN : Number(value);
        if (!Number.isFinite(v)) throw invalid(`--perturb: ${name} ${key} must be a number (got ${value})`);
        fam[key] = v;
      } else {
        if (!kind.includes(value)) throw invalid(`--perturb: ${name} ${key} must be one of ${kind.join(', ')} (got ${value})`);
        fam[key] = value;
      }
    }
    if (typeof fam.sizeMin === 'number' && typeof fam.sizeMax === 'number' && fam.sizeMin > fam.sizeMax)
      throw invalid(`--perturb: ${name} sizeMin ${fam.sizeMin} is above sizeMax ${fam.sizeMax}`);
    (out as Record<string, unknown>)[name] = fam;
  }
  return out;
}

export interface CleanProgress {
  phase: 'localize' | 'train' | 'export';
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  total?: number;
  contrastive?: number;
  attention?: number;
  clone?: number;
  imagesPerSecond?: number;
  etaSeconds?: number;
  /** True on the last step of an epoch (after its checkpoint was written). */
  epochDone?: boolean;
  /** With epochDone: the epoch's mean losses (total, contrastive, attention, clone are the last step's). */
  epochMean?: Omit<EpochLoss, 'epoch' | 'seconds'>;
}

export interface CleanHooks {
  signal?: AbortSignal;
  onProgress?: (p: CleanProgress) => void;
  onMessage?: (message: string) => void;
}

export interface StepLoss {
  epoch: number;
  step: number;
  total: number;
  contrastive: number;
  attention: number;
  clone: number;
  imagesPerSecond: number;
}
export interface EpochLoss {
  epoch: number;
  total: number;
  contrastive: number;
  attention: number;
  clone: number;
  seconds: number;
}

export interface CleanConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  tau: number;
  cloneWeight: number;
  betaBase: number;
  betaMomentum: number;
  projectionHidden: number;
  projectionDim: number;
  uniformBeta: boolean;
  noAttention: boolean;
  noClone: boolean;
  noContrastive: boolean;
  cleanFraction: number | null;
  cleanCount: number | null;
  probes: string[] | null;
  features: string | null;
  transform: NonNullable<CleanOptions['transform']>;
  augment: NonNullable<CleanOptions['augment']>;
  keepBatchNorm: boolean;
  restoreBatchNorm: boolean;
  faithful: boolean;
  perturb: PerturbParams | null;
  perturbViews: 1 | 2;
  lrSchedule: ScheduleKind;
  warmupEpochs: number;
  /** The epochs the lr schedule was laid out for (the first run's; a resume keeps it). */
  scheduleEpochs: number;
  optimizer: 'adam';
  dropLast: true;
  stepsPerEpoch: number;
}

export interface CleanReport {
  version: 1;
  config: CleanConfig;
  seed: number;
  environment: {
    node: string;
    platform: string;
    cpu: string;
    threads: number;
    engine: BuildInfo;
    /** How the training loop ran the teacher (see CleanOptions.teacherSchedule). */
    teacher: { schedule: 'overlap' | 'inline'; threads: number; provider: 'cpu' | 'cuda' };
  };
  data: { source: string; manifest: SubsetManifest };
  /** otherOutputs: the teacher's other graph outputs, each distilled by a clone term of its own (summed into clone). */
  teacher: { path: string; sha256: string; input: string; features: string; probes: { name: string; shape: number[] }[]; otherOutputs: string[] };
  mi: ProbeReport[] | null;
  beta: number[];
  losses: StepLoss[];
  epochs: EpochLoss[];
  timings: { localize: number; train: number; export: number; total: number };
  /** report: report.json; html: report.html beside it. */
  outputs: { student: string; report: string; html: string; checkpoint: string };
  /** The student's architecture (the convs that got a BatchNorm back: config.restoreBatchNorm) and its file's SHA-256. */
  student: { restoredBatchNorm: string[]; sha256: string };
  /** The tool that made the report (version, git commit of a checkout, Node, onnxruntime) and the command line. */
  tool: ToolInfo & { argv: string[] };
  /** The MI localisation behind beta: N, the ln N ceiling, the bandwidths, the backend, which estimate set beta. */
  localization: Pick<LocalizeResult, 'n' | 'lnN' | 'bandwidth' | 'backend' | 'weightsFrom'> | null;
  /** The global step this run resumed from (a checkpoint), or null for a run from the start. */
  resumedFrom: number | null;
  /** The trigger stamped on copies of the report's images (evaluation only, never used by the defence), or null. */
  evalTrigger: string | null;
  attentionMaps: AttentionPanel[];
}

export type CleanResult = CleanReport & { outDir: string };

interface CheckpointMeta {
  version: 1;
  /** Completed epochs, and steps done in the current one. */
  epoch: number;
  stepInEpoch: number;
  globalStep: number;
  seed: number;
  config: CleanConfig;
  manifest: SubsetManifest;
  dataSource: string;
  mi: ProbeReport[] | null;
  localization?: CleanReport['localization'];
  beta: number[];
  probes: { name: string; shape: number[] }[];
  losses: StepLoss[];
  epochs: EpochLoss[];
  epochSeconds: number;
  timings: { localize: number; train: number };
  optimizer: Omit<OptimizerState, 'state'>;
  backboneParams: string[];
  backboneBuffers: string[];
  headParams: string[];
}

type LossOut = { loss: number; grad: Float32Array; grads: Float32Array[]; layerLosses: number[] };
/** With `async: true` the kernels run on a libuv worker and return a Promise: the event loop never waits on them (`borrow: true`: on the loop's own arrays, not copies). */
type Fn = (args: Record<string, unknown>) => Promise<LossOut>;
function lossKernels(): { clone: Fn; attention: Fn; ntXent: Fn } {
  const l = (native() as unknown as { losses?: { clone: Fn; attention: Fn; ntXent: Fn } }).losses;
  if (!l) throw new MimicError('E_NATIVE_LOAD', 'the native engine was built without the loss kernels; rebuild it (npm run build)');
  return l;
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);
const now = () => performance.now() / 1000;

function augmentNormalize(n: CleanConfig['transform']['normalize']): AugmentNormalize {
  if (n === undefined || n === 'none') return 'none';
  if (n === 'cifar10') return 'cifar10';
  return { mean: [...n.mean], std: [...n.std] };
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/** Runs MIMIC's distillation and writes the student, report.json and the checkpoint. */
export async function clean(options: CleanOptions, hooks: CleanHooks | null = {}): Promise<CleanResult> {
  return holdingRun((run) => runClean(options, hooks, run));
}

async function runClean(options: CleanOptions, hooks: CleanHooks | null, run: RunHold): Promise<CleanResult> {
  const made = run.made;
  if (!options || typeof options !== 'object') throw invalid('clean: options object required');
  checkOptionNames(options, CLEAN_OPTIONS, 'clean');
  if (options.transform !== undefined) checkOptionNames(options.transform, TRANSFORM_OPTIONS, 'clean transform');
  if (hooks) checkOptionNames(hooks, CLEAN_HOOKS, 'clean hooks');
  const { signal, onProgress } = hooks ?? {};
  const say = hooks?.onMessage ?? (() => {});
  checkAborted(signal, 'clean');
  const t0 = now();
  if (typeof options.teacher !== 'string') throw invalid('teacher: an ONNX file path is required');
  if (typeof options.out !== 'string' || !options.out) throw invalid('out: the student ONNX path is required');
  const out = resolve(options.out);
  const outDir = resolve(options.outDir ?? join(dirname(out), `${basename(out, extname(out))}-mimic`));
  const ckptDir = join(outDir, 'checkpoint');
  const reportFile = join(outDir, 'report.json');
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw invalid(`seed must be an integer (got ${options.seed})`);
  if (options.cleanFraction !== undefined && options.cleanCount !== undefined) throw invalid('give cleanFraction or cleanCount, not both');
  const threads = options.threads ?? 0;
  const schedule = options.teacherSchedule ?? 'auto';
  if (!TEACHER_SCHEDULES.includes(schedule)) throw invalid(`teacherSchedule must be one of ${TEACHER_SCHEDULES.join(', ')} (got '${String(schedule)}')`);
  made.push(...(await prepareOutputFile(out, { what: 'out', inputs: [{ path: options.teacher, what: 'teacher' }, { path: typeof options.data === 'string' ? options.data : undefined, what: 'data' }] })));
  made.push(...(await prepareOutputDir(outDir, 'outDir')), ckptDir);
  run.claim = await claimCheckpointDir<Pick<CheckpointMeta, 'epoch' | 'stepInEpoch' | 'config'>>(ckptDir, options, (m) =>
    m.epoch < m.config.epochs || m.stepInEpoch > 0 ? `epoch ${m.epoch}${m.stepInEpoch ? ` + ${m.stepInEpoch} steps` : ''} of ${m.config.epochs}` : null,
  );
  let teacherRun: CleanReport['environment']['teacher'] | undefined;

  // ---- teacher, probes, data ----
  const model = await loadModel(options.teacher);
  const input = encoderImageInput(model, options.teacher, 'teacher', options.inputShape);
  const [, C, H, W] = input.dims;
  const probeSet = await prepareProbes(model, { probes: options.probes, features: options.features, threads: options.teacherThreads ?? 1, inputShape: options.inputShape });
  if (probeSet.probes.length === 0) throw new MimicError('E_ONNX', `${options.teacher}: no probe tensors found: name them with 'probes'`);
  const featName = probeSet.features.name;
  const probes = probeSet.probes.map((p) => ({ name: p.name, shape: p.shape.slice(1) }));
  for (const p of probes)
    if (p.shape.length !== 3)
      throw invalid(`probe '${p.name}' is [${p.shape}] per image: attention transfer needs a feature map (C, H, W); name 4-D tensors (mimic layers lists them)`);
  // the report's trigger is checked now, not after training
  const evalTrigger = options.evalTrigger ? await resolveTrigger(options.evalTrigger, { channels: C, height: H, width: W }) : undefined;

  // the defence takes no labels: a label file beside the images is not even opened (CIFAR records carry theirs: dropped)
  const raw = typeof options.data === 'string' ? await openDataset(options.data, { labels: false, ...options.dataOptions }) : options.data;
  const unlabeled: ImageDataset = { name: raw.name, count: raw.count, channels: raw.channels, height: raw.height, width: raw.width, pixels: raw.pixels, source: raw.source };

  const batch = posInt(options.batchSize, 128, 'batchSize');
  const config: CleanConfig = {
    epochs: posInt(options.epochs, 30, 'epochs'),
    batchSize: batch,
    lr: posNum(options.lr, 1e-2, 'lr'),
    weightDecay: posNum(options.weightDecay, 1e-6, 'weightDecay', true),
    tau: posNum(options.tau, 0.5, 'tau'),
    cloneWeight: posNum(options.cloneWeight, 1, 'cloneWeight', true),
    betaBase: posNum(options.betaBase, 1000, 'betaBase', true),
    betaMomentum: posNum(options.betaMomentum, 10000, 'betaMomentum', true),
    projectionHidden: 0,
    projectionDim: posInt(options.projectionDim, 128, 'projectionDim'),
    uniformBeta: !!options.uniformBeta,
    noAttention: !!options.noAttention,
    noClone: !!options.noClone,
    noContrastive: !!options.noContrastive,
    cleanFraction: options.cleanCount === undefined ? (options.cleanFraction ?? 0.04) : null,
    cleanCount: options.cleanCount ?? null,
    probes: options.probes ?? null,
    features: options.features ?? null,
    transform: { normalize: options.transform?.normalize ?? 'none', size: options.transform?.size ?? 'error', channelMode: options.transform?.channelMode ?? 'error' },
    augment: { ...structuredClone(AUGMENT_DEFAULTS), ...options.augment } as NonNullable<CleanOptions['augment']>, // as run: the defaults spelled out
    keepBatchNorm: !!options.keepBatchNorm,
    restoreBatchNorm: options.restoreBatchNorm ?? true,
    faithful: !!options.faithful,
    perturb: structuredClone(options.perturb !== undefined ? options.perturb : options.faithful ? null : DEFAULT_PERTURB),
    perturbViews: options.perturbViews ?? 1,
    lrSchedule: options.lrSchedule ?? (options.faithful ? 'constant' : 'cosine'),
    // one warm-up epoch by default (none for the faithful method, or a run of a single epoch)
    warmupEpochs: posNum(options.warmupEpochs, options.faithful || (options.epochs ?? 30) < 2 ? 0 : 1, 'warmupEpochs', true),
    scheduleEpochs: 0,
    optimizer: 'adam',
    dropLast: true,
    stepsPerEpoch: 0,
  };
  if (config.noAttention && config.noClone && config.noContrastive) throw invalid('noAttention, noClone and noContrastive together leave no loss');
  if (config.faithful) {
    // 'faithful' is what the report says was run: it cannot carry the defence or the cosine schedule
    if (config.perturb) throw invalid('faithful runs the published method without perturbations: drop perturb (--perturb), or drop faithful (--faithful) and set the schedule yourself');
    if (config.lrSchedule !== 'constant') throw invalid(`faithful runs the published method with a constant lr: drop lrSchedule '${config.lrSchedule}' (--lr-schedule), or drop faithful (--faithful)`);
    if (config.warmupEpochs > 0) throw invalid('faithful runs the published method without warm-up: drop warmupEpochs (--warmup-epochs), or drop faithful (--faithful)');
  }

  const manifest = selectSubset(unlabeled, config.cleanCount !== null ? { count: config.cleanCount, seed } : { fraction: config.cleanFraction!, seed });
  const clean = await toModelLayoutAsync(subsetDataset(unlabeled, manifest.indices, `${unlabeled.name} clean subset`), C, H, W, config.transform);
  const steps = Math.floor(clean.count / batch);
  if (steps < 1) throw invalid(`the clean subset has ${clean.count} images, fewer than one batch of ${batch} (drop_last)`);
  config.stepsPerEpoch = steps;

  // ---- student ----
  const spec = specFromOnnx(model, { weights: 'fresh', seed, source: options.teacher, unfoldBatchNorm: config.restoreBatchNorm, inputShapes: options.inputShape ? { [input.name]: options.inputShape } : undefined });
  if (spec.unfolded.length)
    say(`student: BatchNorm put back after ${spec.unfolded.length} conv${spec.unfolded.length > 1 ? 's' : ''} (the teacher's export folded it into them; restoreBatchNorm false / --no-restore-bn keeps the graph as is)`);
  const shapes = specShapes(spec);
  for (const p of [featName, ...probes.map((q) => q.name)])
    if (!shapes.has(p)) throw new MimicError('E_ONNX', `the student replica has no tensor '${p}' (a teacher probe or its features)`);
  const featDim = prod(shapes.get(featName)!);
  // the teacher's other graph outputs (a projection head's, say): each distilled by its own clone term, so that
  // none is left untrained in the exported student
  const extraOutputs = spec.outputs.filter((o) => o !== featName && !probes.some((p) => p.name === o)).map((name) => ({ name, dim: prod(shapes.get(name)!) }));
  if (extraOutputs.length && config.noClone)
    say(`note: with the clone term off, the student's output${extraOutputs.length > 1 ? 's' : ''} ${extraOutputs.map((e) => `'${e.name}'`).join(', ')} (not the features) get no training signal`);
  config.projectionHidden = posInt(options.projectionHidden, featDim, 'projectionHidden');
  const studentIn = spec.inputs[0].name;
  const backboneOutputs = [...new Set([...spec.outputs, featName, ...probes.map((q) => q.name)])];
  const backbone = Network.create({ ...spec, outputs: backboneOutputs }, { threads });
  const head = Network.create(headSpec(featDim, config.projectionHidden, config.projectionDim, seed), { threads });
  backbone.setMode('train');
  head.setMode('train');
  const trainHead = !config.noContrastive;
  const optParams = [...backbone.paramViews(), ...(trainHead ? head.paramViews() : [])];
  const optGrads = [...backbone.gradViews(), ...(trainHead ? head.gradViews() : [])];
  const opt = Optimizer.create({ kind: 'adam', params: optParams, lr: config.lr, weightDecay: config.weightDecay, threads });

  // ---- resume or localise ----
  await run.claim!.dropOld(); // the inputs are checked: a restart now drops the old run's checkpoint
  let startEpoch = 0, startStep = 0, globalStep = 0;
  let losses: StepLoss[] = [];
  let epochs: EpochLoss[] = [];
  let mi: ProbeReport[] | null = null;
  let localization: CleanReport['localization'] = null;
  let beta: number[];
  let epochSeconds = 0;
  let localizeSeconds = 0, trainBefore = 0;
  let resumedFrom: number | null = null;
  config.scheduleEpochs = config.epochs;
  if (config.warmupEpochs >= config.epochs && config.lrSchedule === 'cosine') throw invalid(`warmupEpochs (${config.warmupEpochs}) must be below epochs (${config.epochs})`);
  // the perturbation squares cannot be larger than the image
  const side = Math.min(H, W);
  if (config.perturb?.patch) {
    const p = config.perturb.patch;
    if (p.sizeMax !== undefined && p.sizeMax > side) {
      say(`perturb: patch sizeMax ${p.sizeMax} is larger than the ${side}-pixel image; using ${side}`);
      p.sizeMax = side;
    }
    if (p.sizeMin !== undefined && p.sizeMin > (p.sizeMax ?? side)) p.sizeMin = p.sizeMax ?? side;
  }
  const comparable = (c: CleanConfig) => JSON.stringify({ ...c, epochs: 0, scheduleEpochs: 0 });
  if (options.resume) {
    const ck = await readCheckpoint<CheckpointMeta>(ckptDir);
    const m = ck.meta;
    if (comparable(m.config) !== comparable(config) || m.seed !== seed)
      throw invalid(`${ck.file}: the checkpoint was made with another configuration or seed; resume needs the same options (only epochs may change)`);
    // the lr schedule keeps the length it was laid out with; a cosine schedule cannot be stretched afterwards
    config.scheduleEpochs = m.config.scheduleEpochs ?? m.config.epochs;
    if (config.lrSchedule === 'cosine' && config.epochs > config.scheduleEpochs)
      throw invalid(`${ck.file}: its cosine lr schedule was laid out for ${config.scheduleEpochs} epochs; epochs = ${config.epochs} would run past its end (use --lr-schedule constant, or start a new run)`);
    const v = verifyManifest(unlabeled, m.manifest);
    if (!v.ok || m.manifest.sha256 !== manifest.sha256) throw invalid(`${ck.file}: the clean subset differs from the checkpoint's: ${v.problems.join('; ') || 'different images'}`);
    const pick = (prefix: string, names: string[]) => Object.fromEntries(names.map((n) => [n, ck.tensors[prefix + n]]));
    backbone.setParams(pick('param:', m.backboneParams));
    backbone.setBuffers(pick('buffer:', m.backboneBuffers));
    head.setParams(pick('head:', m.headParams));
    opt.loadState({ ...m.optimizer, state: ck.tensors['optimizer'] });
    ({ losses, epochs, mi, beta, epochSeconds } = m);
    localization = m.localization ?? null;
    if (config.epochs < m.epoch + (m.stepInEpoch > 0 ? 1 : 0))
      throw invalid(`${ck.file}: the checkpoint is at epoch ${m.epoch}${m.stepInEpoch ? ` + ${m.stepInEpoch} steps` : ''}, beyond epochs = ${config.epochs}`);
    startEpoch = m.epoch;
    startStep = m.stepInEpoch;
    globalStep = m.globalStep;
    localizeSeconds = m.timings.localize;
    trainBefore = m.timings.train;
    resumedFrom = m.globalStep;
    say(m.epoch >= config.epochs ? `${ck.file} is the end of epoch ${m.epoch}: nothing left to train, exporting again` : `resuming from ${ck.file}: epoch ${m.epoch + 1}, step ${m.stepInEpoch}`);
  } else {
    const tl = now();
    if (!config.uniformBeta && !config.noAttention) {
      onProgress?.({ phase: 'localize', epoch: 0, epochs: config.epochs, step: 0, steps });
      const loc = await localize({
        teacher: options.teacher,
        inputShape: options.inputShape,
        data: clean,
        n: clean.count,
        seed,
        probes: probes.map((p) => p.name),
        features: featName,
        transform: { normalize: config.transform.normalize },
        weights: { base: config.betaBase, momentum: config.betaMomentum },
        threads: threads || undefined,
        teacherThreads: options.teacherThreads,
        provider: options.provider,
        onMessage: hooks?.onMessage,
        signal,
      }).catch((err) => {
        if (signal?.aborted) throw new MimicError('E_ABORTED', 'clean: stopped during the MI localisation, before training (nothing to resume: start again)', { cause: err });
        throw err;
      });
      mi = loc.probes;
      beta = loc.beta;
      localization = { n: loc.n, lnN: loc.lnN, bandwidth: loc.bandwidth, backend: loc.backend, weightsFrom: loc.weightsFrom };
    } else beta = mimicBeta(probes.map(() => 0), { base: config.betaBase, momentum: config.betaMomentum });
    localizeSeconds = now() - tl;
  }
  beta = beta!;

  const L = lossKernels();
  const sched = makeSchedule(config.lrSchedule, config.lr, config.scheduleEpochs * steps, Math.round(config.warmupEpochs * steps));
  const normalize = augmentNormalize(config.transform.normalize);
  const probeSizes = probes.map((p) => prod(p.shape));
  const studentThreads = threads || buildInfo().threads;
  const cores = availableParallelism();
  const plan = planTeacher(schedule, studentThreads, options.teacherThreads, cores, options.provider === 'cuda');
  const runner = await TeacherRunner.create({
    model: encodeModel(probeSet.model),
    outputs: [featName, ...probes.map((p) => p.name), ...extraOutputs.map((e) => e.name)],
    threads: plan.threads,
    provider: options.provider ?? 'cpu',
    onMessage: hooks?.onMessage,
  });
  // a CUDA request that fell back to the CPU is planned again as a CPU teacher, on the threads it was given
  const overlap = planTeacher(schedule, studentThreads, plan.threads, cores, runner.provider === 'cuda').overlap;
  teacherRun = { schedule: overlap ? 'overlap' : 'inline', threads: plan.threads, provider: runner.provider };

  const snapshot = async (epoch: number, stepInEpoch: number, trainSeconds: number) => {
    const bp = backbone.getParams(), bb = backbone.getBuffers(), hp = head.getParams();
    const os = opt.saveState('float32');
    const { state, ...optMeta } = os;
    const tensors: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(bp)) tensors['param:' + k] = v;
    for (const [k, v] of Object.entries(bb)) tensors['buffer:' + k] = v;
    for (const [k, v] of Object.entries(hp)) tensors['head:' + k] = v;
    tensors['optimizer'] = state as Float32Array;
    const meta: CheckpointMeta = {
      version: 1, epoch, stepInEpoch, globalStep, seed, config, manifest, dataSource: unlabeled.source, mi, localization, beta, probes,
      losses, epochs, epochSeconds, timings: { localize: localizeSeconds, train: trainSeconds }, optimizer: optMeta,
      backboneParams: Object.keys(bp), backboneBuffers: Object.keys(bb), headParams: Object.keys(hp),
    };
    return writeCheckpoint(ckptDir, meta, tensors);
  };

  // ---- the loop ----
  // view1: the teacher's input; overlapped, its run is already under way in `teacher`, inline it starts in the step
  type Prepared = { x: Float32Array; view1: Float32Array; teacher?: Promise<Record<string, TensorOut>> };
  const prepare = async (order: Int32Array, s: number, gstep: number): Promise<Prepared> => {
    const idx = order.subarray(s * batch, (s + 1) * batch);
    const v = await twoViewsAsync(clean, idx, { ...config.augment, seed, counter: gstep, size: [H, W], threads, normalize });
    const x = new Float32Array(2 * v.view1.length);
    // the student's view 1 is perturbed; the teacher (and so every distillation target) sees the clean view 1
    const p1 = config.perturb ? (await perturbBatchAsync(v.view1, [batch, C, H, W], { ...config.perturb, seed, counter: gstep, normalize, threads })).images : v.view1;
    x.set(p1, 0);
    const p2 = config.perturb && config.perturbViews === 2 ? (await perturbBatchAsync(v.view2, [batch, C, H, W], { ...config.perturb, seed: seed ^ 0x2f1e2d3c, counter: gstep, normalize, threads })).images : v.view2;
    x.set(p2, v.view1.length);
    if (!overlap) return { x, view1: v.view1 };
    const teacher = runner.run(v.view1, [batch, C, H, W]);
    teacher.catch(() => {}); // awaited later; avoid an unhandled rejection when the loop stops first
    return { x, view1: v.view1, teacher };
  };

  const tTrain = now();
  let pending: Promise<Prepared> | undefined;
  // per probe, the gradient over both views (2B rows): the attention kernel writes view 1's rows each step, view 2's
  // stay zero (the attention term sees view 1 only); and the student's outputs, reused by every step
  const probeGrads = probes.map((_, i) => new Float32Array(2 * batch * probeSizes[i]));
  const extraGrads = extraOutputs.map((e) => new Float32Array(2 * batch * e.dim)); // view 2's rows stay zero
  const studentOut: Record<string, Float32Array> = {};
  let at = { epoch: startEpoch, step: startStep };
  try {
    for (let epoch = startEpoch; epoch < config.epochs; ++epoch) {
      const order = epochOrder(clean.count, seed, epoch);
      let s = epoch === startEpoch ? startStep : 0;
      if (s === 0) epochSeconds = 0;
      pending = prepare(order, s, globalStep);
      for (; s < steps; ++s) {
        if (signal?.aborted) {
          await pending?.catch(() => {});
          pending = undefined;
          const file = await snapshot(epoch, s, trainBefore + now() - tTrain);
          throw new MimicError('E_ABORTED', `clean: stopped at epoch ${epoch + 1}, step ${s}; checkpoint saved to ${file} (continue it with resume (--resume))`);
        }
        const ts = now();
        at = { epoch, step: s };
        const cur: Prepared = await (pending ?? prepare(order, s, globalStep));
        pending = undefined;
        const inlineTeacher = cur.teacher ? undefined : await runner.run(cur.view1, [batch, C, H, W]);
        const sOut = await backbone.forwardAsync({ [studentIn]: cur.x }, undefined, { into: studentOut, borrow: true });
        Object.assign(studentOut, sOut); // the first step's arrays are reused by every later one
        const t = inlineTeacher ?? (await cur.teacher!);
        const feats = sOut[featName];
        let con = 0, att = 0, clo = 0;
        let uGrad: Float32Array | undefined;
        if (!config.noContrastive) {
          const u = (await head.forwardAsync({ mimic_head_in: feats }, undefined, BORROW))['mimic_head_u'];
          const r = await L.ntXent({ u, shape: [2 * batch, config.projectionDim], tau: config.tau, async: true, borrow: true });
          con = r.loss;
          uGrad = r.grad;
        }
        if (!config.noAttention) {
          const r = await L.attention({
            async: true,
            borrow: true,
            layers: probes.map((p, i) => ({
              student: sOut[p.name].subarray(0, batch * probeSizes[i]),
              teacher: t[p.name].data,
              studentShape: [batch, ...p.shape],
              teacherShape: t[p.name].dims,
              beta: beta[i],
              grad: probeGrads[i].subarray(0, batch * probeSizes[i]),
            })),
            p: 2,
          });
          att = r.loss;
        }
        let cloGrad: Float32Array | undefined;
        if (!config.noClone) {
          const r = await L.clone({ student: feats.subarray(0, batch * featDim), teacher: t[featName].data, shape: [batch, featDim], async: true, borrow: true });
          clo = r.loss;
          cloGrad = r.grad;
          for (const [k, e] of extraOutputs.entries()) {
            const x = await L.clone({ student: sOut[e.name].subarray(0, batch * e.dim), teacher: t[e.name].data, shape: [batch, e.dim], async: true, borrow: true });
            clo += x.loss;
            const g = extraGrads[k];
            for (let i = 0; i < x.grad.length; ++i) g[i] = config.cloneWeight * x.grad[i];
          }
        }
        let total = con + att + config.cloneWeight * clo;
        if (options.faultInjection?.nanAtStep === globalStep) total = NaN;
        if (!Number.isFinite(total))
          throw new MimicError('E_NON_FINITE', `clean: the loss is ${total} at epoch ${epoch + 1}, step ${s} (contrastive ${con}, attention ${att}, clone ${clo}); try a lower lr (now ${config.lr}); the last good checkpoint (${join(ckptDir, CHECKPOINT_FILE)}) is kept`);

        // the teacher's next batch runs while the student steps
        if (s + 1 < steps) pending = prepare(order, s + 1, globalStep + 1);

        const gFeat = new Float32Array(2 * batch * featDim);
        if (uGrad) {
          const g = (await head.backwardAsync({ mimic_head_u: uGrad }, true, BORROW))['mimic_head_in'];
          gFeat.set(g);
        }
        if (cloGrad) for (let i = 0; i < cloGrad.length; ++i) gFeat[i] += config.cloneWeight * cloGrad[i];
        const grads: Record<string, Float32Array> = { [featName]: gFeat };
        probes.forEach((p, i) => {
          if (p.name !== featName) grads[p.name] = probeGrads[i]; // the attention kernel wrote view 1's rows in place
        });
        if (!config.noClone) extraOutputs.forEach((e, k) => (grads[e.name] = extraGrads[k]));
        await backbone.backwardAsync(grads, false, BORROW);
        opt.setLr(lrAt(sched, globalStep));
        await opt.stepAsync(optGrads, BORROW);

        const dt = now() - ts;
        epochSeconds += dt;
        globalStep++;
        const entry: StepLoss = { epoch: epoch + 1, step: globalStep, total, contrastive: con, attention: att, clone: clo, imagesPerSecond: batch / dt };
        losses.push(entry);
        const remaining = (config.epochs - epoch - 1) * steps + (steps - s - 1);
        const last = s + 1 === steps;
        if (last) {
          const mine = losses.filter((l) => l.epoch === epoch + 1);
          epochs.push({
            epoch: epoch + 1,
            total: mean(mine.map((l) => l.total)),
            contrastive: mean(mine.map((l) => l.contrastive)),
            attention: mean(mine.map((l) => l.attention)),
            clone: mean(mine.map((l) => l.clone)),
            seconds: epochSeconds,
          });
          await snapshot(epoch + 1, 0, trainBefore + now() - tTrain);
        }
        onProgress?.({ phase: 'train', epoch: epoch + 1, epochs: config.epochs, step: s + 1, steps, total, contrastive: con, attention: att, clone: clo, imagesPerSecond: entry.imagesPerSecond, etaSeconds: remaining * (epochSeconds / (s + 1)), epochDone: last, epochMean: last ? epochs.at(-1) : undefined });
      }
    }
  } catch (err) {
    // a kernel's input check caught NaN / Inf (parameters blown up by the previous step): say where, and what to try
    if (err instanceof MimicError && err.code === 'E_NON_FINITE' && !err.message.startsWith('clean:'))
      throw new MimicError('E_NON_FINITE', `clean: the training diverged at epoch ${at.epoch + 1}, step ${at.step} (${err.message}); try a lower lr (now ${config.lr}); the last good checkpoint (${join(ckptDir, CHECKPOINT_FILE)}) is kept`, { cause: err });
    throw err;
  } finally {
    if (pending) await pending.catch(() => {});
    await runner.close();
  }
  const trainSeconds = trainBefore + now() - tTrain;

  // ---- export ----
  onProgress?.({ phase: 'export', epoch: config.epochs, epochs: config.epochs, step: steps, steps });
  const te = now();
  await ensureDir(dirname(out), 'out');
  await saveSpecAsOnnx(spec, out, { params: backbone.getParams(), buffers: backbone.getBuffers(), foldBatchNorm: !config.keepBatchNorm });
  const exportSeconds = now() - te;

  // Teacher-vs-student attention maps on a few clean images (and stamped copies when an evaluation trigger is given).
  const shown = Math.min(options.reportImages ?? 4, clean.count);
  const attentionMaps = shown > 0
    ? await attentionPanels({
        teacherModel: encodeModel(probeSet.model),
        probes,
        student: backbone,
        studentInput: studentIn,
        images: clean,
        indices: Array.from({ length: shown }, (_, i) => i),
        normalize: config.transform.normalize ?? 'none',
        trigger: evalTrigger,
        teacherThreads: options.teacherThreads,
      })
    : [];

  const report: CleanReport = {
    version: 1,
    config,
    seed,
    environment: { node: process.version, platform: `${process.platform}-${process.arch}`, cpu: cpus()[0]?.model ?? 'unknown', threads: threads || buildInfo().threads, engine: buildInfo(), teacher: teacherRun! },
    data: { source: unlabeled.source, manifest },
    teacher: { path: resolve(options.teacher), sha256: await sha256File(options.teacher), input: input.name, features: featName, probes, otherOutputs: extraOutputs.map((e) => e.name) },
    mi,
    beta,
    losses,
    epochs,
    timings: { localize: localizeSeconds, train: trainSeconds, export: exportSeconds, total: 0 },
    outputs: { student: out, report: reportFile, html: reportFile.replace(/\.json$/, '.html'), checkpoint: join(ckptDir, CHECKPOINT_FILE) },
    student: { restoredBatchNorm: spec.unfolded, sha256: await sha256File(out) },
    tool: { ...toolInfo(), argv: process.argv.slice(1) },
    evalTrigger: options.evalTrigger ?? null,
    localization,
    resumedFrom,
    attentionMaps,
  };
  report.timings.total = resumedFrom === null ? now() - t0 : report.timings.localize + report.timings.train + report.timings.export;
  // report.json and the self-contained report.html beside it, both written atomically
  await writeReport(report as unknown as HtmlReport, outDir);
  return { ...report, outDir };
}
