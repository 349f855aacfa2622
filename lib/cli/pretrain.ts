/** `mimic pretrain`: SimCLR pre-training of an encoder (the attack simulator's clean encoder). */
import { Option, type Command } from 'commander';
import { count, int, nonNegative, positive, seed } from './args.ts';
import { pretrain, type PretrainOptions, type PretrainProgress } from '../train/pretrain.ts';
import type { SizeMode } from '../data/transform.ts';
import { MimicError } from '../errors.ts';
import { splitOptions, withInterrupt } from './common.ts';

/** Options shared by pretrain and attack poison. */
export function addPretrainOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--data <path>', 'training images (IDX, CIFAR binary, NPY/NPZ, PNG folder); labels are not used')
    .requiredOption('--out <file>', 'the encoder ONNX to write')
    .option('--out-dir <dir>', "checkpoint and report folder (default '<out name>-pretrain' next to --out)")
    .option('--split <name>', 'dataset split', 'train')
    .option('--count <n>', 'use a seeded sample of this many images (default: all)', count)
    .option('--template <model>', 'an ONNX encoder whose architecture (not weights) is trained; default: built-in CIFAR ResNet-18')
    .option('--init-from-template', 'start from the template\'s weights (fine-tuning) instead of a fresh replica')
    .option('--width <n>', 'built-in ResNet-18 base width', count, 8)
    .option('--in-channels <n>', 'built-in ResNet-18 input channels', count, 3)
    .option('--image-size <n>', 'built-in ResNet-18 input side', count, 32)
    .option('--epochs <n>', 'epochs', count, 50)
    .option('--batch <n>', 'batch size (two views each)', int(2), 256)
    .option('--lr <x>', 'Adam learning rate', positive, 1e-3)
    .option('--weight-decay <x>', 'Adam L2 weight decay', nonNegative, 1e-6)
    .addOption(new Option('--schedule <kind>', 'learning-rate schedule').choices(['cosine', 'constant']).default('cosine'))
    .option('--warmup-epochs <n>', 'linear warm-up epochs (cosine)', nonNegative, 0)
    .option('--tau <x>', 'NT-Xent temperature', positive, 0.5)
    .option('--seed <n>', 'seed', seed, 0)
    .addOption(new Option('--normalize <preset>', 'input normalisation').choices(['none', 'cifar10']).default('cifar10'))
    .addOption(new Option('--resize <mode>', 'when image and model sizes differ').choices(['error', 'pad', 'resize']).default('error'))
    .option('--convert-channels', 'adapt 1 <-> 3 channels')
    .option('--keep-bn', 'keep BatchNorm nodes in the exported encoder (default: folded)')
    .option('--resume', 'continue from the checkpoint in --out-dir')
    .option('--restart', 'start over even when --out-dir holds an unfinished run (default: refuse)')
    .option('-t, --threads <n>', 'engine threads (default: all cores)', count)
    .option('--json', 'print the report as JSON');
}

/** The built-in ResNet's shape options mean nothing with --template: refuse them rather than ignore them. */
export function checkTemplateConflicts(cmd: Command): void {
  if (cmd.getOptionValue('template') === undefined) return;
  for (const [key, flag] of [['width', '--width'], ['inChannels', '--in-channels'], ['imageSize', '--image-size']])
    if (cmd.getOptionValueSource(key) === 'cli')
      throw new MimicError('E_INVALID_ARGUMENT', `${flag} shapes the built-in ResNet-18; --template gives the architecture: drop one of them`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function pretrainOptions(opts: any, cmd: Command): PretrainOptions {
  return {
    data: opts.data,
    dataOptions: splitOptions(cmd, 'split'),
    count: opts.count,
    architecture: { template: opts.template, templateWeights: !!opts.initFromTemplate, width: opts.width, inChannels: opts.inChannels, imageSize: opts.imageSize },
    out: opts.out,
    outDir: opts.outDir,
    epochs: opts.epochs,
    batchSize: opts.batch,
    lr: opts.lr,
    weightDecay: opts.weightDecay,
    schedule: opts.schedule,
    warmupEpochs: opts.warmupEpochs,
    tau: opts.tau,
    seed: opts.seed,
    transform: { normalize: opts.normalize, size: opts.resize as SizeMode, channelMode: opts.convertChannels ? 'convert' : 'error' },
    keepBatchNorm: !!opts.keepBn,
    resume: !!opts.resume,
    restart: !!opts.restart,
    threads: opts.threads,
  };
}

export const pretrainLine = (p: PretrainProgress) =>
  `epoch ${p.epoch}/${p.epochs}  loss ${p.loss.toFixed(4)}  lr ${p.lr.toExponential(2)}  ${p.imagesPerSecond.toFixed(0)} img/s  ETA ${Math.round(p.etaSeconds ?? 0)} s`;

export function registerPretrain(program: Command): void {
  addPretrainOptions(program.command('pretrain').description('SimCLR pre-training of an encoder (built-in CIFAR ResNet-18 or an ONNX architecture), exported as ONNX')).action(async (opts, cmd: Command) => {
    checkTemplateConflicts(cmd);
    const res = await withInterrupt((signal) => pretrain(pretrainOptions(opts, cmd), { signal, onMessage: (m) => process.stderr.write(`mimic: ${m}\n`), onProgress: (p) => p.epochDone && process.stderr.write(pretrainLine(p) + '\n') }));
    if (!res) return;
    if (opts.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    else process.stdout.write(`encoder ${res.outputs.encoder}\nreport ${res.outputs.report}\nfinal loss ${res.epochs.at(-1)?.loss.toFixed(4)}; ${res.seconds.toFixed(1)} s\n`);
  });
}
