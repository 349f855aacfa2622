/** `mimic clean`: MIMIC's distillation of a fresh student from a suspect teacher on a small clean subset. */
import { Option, type Command } from 'commander';
import { count, fraction, int, nonNegative, positive, seed, imageShape } from './args.ts';
import { clean, parsePerturbSpec, type CleanProgress } from '../train/clean.ts';
import type { SizeMode } from '../data/transform.ts';
import { splitOptions, withInterrupt } from './common.ts';

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
}

function progressLine(p: CleanProgress): string {
  if (p.phase === 'localize') return 'localising (MI of the teacher probes)...';
  if (p.phase === 'export') return 'exporting the student...';
  const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(4));
  return (
    `epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.steps}  loss ${f(p.total)} (con ${f(p.contrastive)} att ${f(p.attention)} clone ${f(p.clone)})` +
    `  ${(p.imagesPerSecond ?? 0).toFixed(0)} img/s  ETA ${fmtTime(p.etaSeconds ?? NaN)}` +
    (p.epochMean ? `  (epoch mean loss ${f(p.epochMean.total)})` : '')
  );
}

export function registerClean(program: Command): void {
  program
    .command('clean')
    .description('MIMIC: distil a fresh student from a suspect encoder on a small clean unlabeled subset (removes backdoors)')
    .requiredOption('--teacher <model>', 'the suspect encoder (ONNX)')
    .requiredOption('--data <path>', 'clean images: IDX (gz), CIFAR binary, NPY/NPZ, or a folder of PNGs (labels are never read)')
    .requiredOption('--out <file>', 'the student ONNX to write')
    .option('--out-dir <dir>', "checkpoint and report folder (default: '<out name>-mimic' next to --out)")
    .option('--clean-fraction <f>', 'share of the data the defender holds (default 0.04)', fraction)
    .option('--clean-count <n>', 'or a number of clean images', count)
    .option('--epochs <n>', 'training epochs (30: what README Results measured)', count, 30)
    .option('--batch <n>', 'batch size (drop_last)', int(2), 128)
    .option('--lr <x>', 'Adam learning rate', positive, 1e-2)
    .option('--weight-decay <x>', 'Adam L2 weight decay', nonNegative, 1e-6)
    .option('--tau <x>', 'NT-Xent temperature', positive, 0.5)
    .option('--clone-weight <x>', 'lambda of the clone loss', nonNegative, 1)
    .option('--seed <n>', 'seed of the subset, student, shuffles and augmentation', seed, 0)
    .option('--split <name>', 'dataset split for folders with several (train, test)', 'train')
    .option('--faithful', 'the published method as written: no perturbation, constant lr (the defence is off)')
    .option('--perturb <spec>', "student-view perturbations: 'none' or families with optional rates and parameters, e.g. patch,noise=1:sigma=0.2:kind=uniform (the default: two squares and full-image noise per view), patch (squares only), patch,blend,noise, or patch=0.5,noise=0.25")
    .addOption(new Option('--lr-schedule <kind>', "learning-rate schedule (default cosine; constant with --faithful)").choices(['cosine', 'constant']))
    .option('--warmup-epochs <n>', 'linear warm-up epochs of the cosine schedule (default 1)', nonNegative)
    .option('--resume', 'continue from the checkpoint in --out-dir')
    .option('--restart', 'start over even when --out-dir holds an unfinished run (default: refuse)')
    .option('--uniform-beta', 'ablation: equal attention weights (no MI)')
    .option('--no-attention', 'ablation: no attention-transfer term')
    .option('--no-clone', 'ablation: no clone term')
    .option('--no-contrastive', 'ablation: no contrastive term')
    .option('--probes <names>', 'comma-separated probe tensors (default: automatic)')
    .option('--features <name>', 'feature tensor (default: the first model output)')
    .option('--input-shape <C,H,W>', "the image size, for a model whose input leaves H and W free", imageShape)
    .addOption(new Option('--normalize <preset>', 'input normalisation (after augmentation)').choices(['none', 'cifar10']).default('none'))
    .addOption(new Option('--resize <mode>', 'when image and model sizes differ').choices(['error', 'pad', 'resize']).default('error'))
    .option('--convert-channels', 'adapt 1 <-> 3 channels (gray replicated / luminance)')
    .option('--keep-bn', 'keep BatchNorm nodes in the exported student (default: folded)')
    .option('--no-restore-bn', "do not put BatchNorm back after the convs PyTorch's export folded it into (for a model whose biased convs never had one)")
    .option('--report-images <n>', 'clean images shown in the report as teacher-vs-student attention maps', int(0), 4)
    .option('--eval-trigger <spec>', 'evaluation only: also show the maps on copies stamped with this trigger, e.g. white:10@21,21')
    .option('-t, --threads <n>', 'engine threads (default: all cores)', count)
    .option('--teacher-threads <n>', 'onnxruntime intra-op threads (default: 1 overlapped, the engine threads inline)', count)
    .addOption(new Option('--teacher-schedule <when>', "the teacher's batch during the student's previous step (overlap), before its own (inline), or overlap when the cores allow (auto)").choices(['auto', 'overlap', 'inline']).default('auto'))
    .addOption(new Option('--provider <p>', 'onnxruntime execution provider').choices(['cpu', 'cuda']).default('cpu'))
    .option('--json', 'print the result as JSON on stdout')
    .action(async (opts, cmd: Command) => {
      const tty = !!process.stderr.isTTY;
      let lastLen = 0;
      // Ctrl-C / SIGTERM: a checkpoint at the next step (exit 130 / 143)
      const res = await withInterrupt((signal) => clean(
        {
          teacher: opts.teacher,
          data: opts.data,
          dataOptions: splitOptions(cmd, 'split'),
          out: opts.out,
          outDir: opts.outDir,
          cleanFraction: opts.cleanFraction,
          cleanCount: opts.cleanCount,
          epochs: opts.epochs,
          batchSize: opts.batch,
          lr: opts.lr,
          weightDecay: opts.weightDecay,
          tau: opts.tau,
          cloneWeight: opts.cloneWeight,
          seed: opts.seed,
          resume: !!opts.resume,
          restart: !!opts.restart,
          faithful: !!opts.faithful,
          perturb: opts.perturb !== undefined ? parsePerturbSpec(opts.perturb) : undefined,
          lrSchedule: opts.lrSchedule,
          warmupEpochs: opts.warmupEpochs,
          uniformBeta: !!opts.uniformBeta,
          noAttention: opts.attention === false,
          noClone: opts.clone === false,
          noContrastive: opts.contrastive === false,
          probes: opts.probes ? String(opts.probes).split(',') : undefined,
          features: opts.features,
          inputShape: opts.inputShape,
          transform: { normalize: opts.normalize, size: opts.resize as SizeMode, channelMode: opts.convertChannels ? 'convert' : 'error' },
          keepBatchNorm: !!opts.keepBn,
          restoreBatchNorm: opts.restoreBn,
          reportImages: opts.reportImages,
          evalTrigger: opts.evalTrigger,
          threads: opts.threads,
          teacherThreads: opts.teacherThreads,
          teacherSchedule: opts.teacherSchedule,
          provider: opts.provider,
        },
        {
          signal,
          onMessage: (m) => process.stderr.write(`mimic: ${m}\n`),
          onProgress: (p) => {
            if (tty) {
              const line = progressLine(p);
              process.stderr.write(`\r${line}${' '.repeat(Math.max(0, lastLen - line.length))}`);
              lastLen = line.length;
              if (p.epochDone || p.phase !== 'train') {
                process.stderr.write('\n');
                lastLen = 0;
              }
            } else if (p.phase === 'train' && p.epochDone) process.stderr.write(progressLine(p) + '\n');
          },
        },
      ), 'stopping (a checkpoint is saved once training has started)...');
      if (!res) return;
      const summary = {
        student: res.outputs.student,
        report: res.outputs.report,
        checkpoint: res.outputs.checkpoint,
        teacher: res.teacher,
        beta: res.beta,
        epochs: res.epochs,
        timings: res.timings,
        resumedFrom: res.resumedFrom,
        manifest: { source: res.data.manifest.source, selected: res.data.manifest.selected, seed: res.data.manifest.seed, sha256: res.data.manifest.sha256 },
      };
      if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      else {
        const last = res.epochs.at(-1);
        process.stdout.write(
          `student ${res.outputs.student}\nreport ${res.outputs.report} (${res.outputs.html})\n` +
            (last ? `epoch ${last.epoch} mean loss ${last.total.toFixed(4)} (contrastive ${last.contrastive.toFixed(4)}, attention ${last.attention.toFixed(4)}, clone ${last.clone.toFixed(4)})\n` : '') +
            `beta ${res.beta.map((b) => b.toFixed(1)).join(', ')}; ${res.timings.total.toFixed(1)} s\n`,
        );
      }
    });
}
