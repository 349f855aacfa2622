/** `mimic attack badencoder|poison`: make backdoored encoders for benchmarks (labels and triggers are used here). */
import { Option, type Command } from 'commander';
import { count, fraction, int, nonNegative, positive, seed, unitOpen } from './args.ts';
import { badEncoder } from '../attack/badencoder.ts';
import { poisonDataset } from '../attack/poison.ts';
import { resolveTrigger } from '../attack/trigger.ts';
import { openDataset } from '../data/open.ts';
import { toModelLayoutAsync } from '../data/layout.ts';
import type { SizeMode } from '../data/transform.ts';
import { encoderSpec, pretrain, sampleImages } from '../train/pretrain.ts';
import { addPretrainOptions, checkTemplateConflicts, pretrainLine, pretrainOptions } from './pretrain.ts';
import { splitOptions, withInterrupt } from './common.ts';

export function registerAttack(program: Command): void {
  const attack = program.command('attack').description('attack simulator: backdoor an encoder (for benchmarks and tests)');

  attack
    .command('badencoder')
    .description('BadEncoder: fine-tune a clean encoder so that triggered images embed like target-class references')
    .requiredOption('--encoder <model>', 'the clean encoder (ONNX)')
    .requiredOption('--data <path>', 'shadow data with labels (references are target-class images from it)')
    .requiredOption('--trigger <spec>', 'e.g. white:10@21,21, png:t.png+mask.png, blend:noise@0.15, freq:100')
    .requiredOption('--target <k>', 'target class', int(0))
    .requiredOption('--out <file>', 'the backdoored encoder ONNX to write')
    .option('--split <name>', 'dataset split', 'train')
    .option('--shadow-count <n>', 'shadow images (seeded sample)', count, 10000)
    .option('--references <n>', 'reference images of the target class', count, 3)
    .option('--epochs <n>', 'epochs', count, 20)
    .option('--batch <n>', 'batch size', int(2), 64)
    .option('--lr <x>', 'SGD learning rate', positive, 0.01)
    .option('--momentum <x>', 'SGD momentum', unitOpen, 0.9)
    .option('--weight-decay <x>', 'SGD weight decay', nonNegative, 5e-4)
    .option('--lambda1 <x>', 'weight of the reference-utility term', nonNegative, 1)
    .option('--lambda2 <x>', 'weight of the clean-utility term', nonNegative, 1)
    .option('--seed <n>', 'seed', seed, 0)
    .addOption(new Option('--normalize <preset>', 'input normalisation').choices(['none', 'cifar10']).default('cifar10'))
    .addOption(new Option('--resize <mode>', 'when image and model sizes differ').choices(['error', 'pad', 'resize']).default('error'))
    .option('--convert-channels', 'adapt 1 <-> 3 channels')
    .option('-t, --threads <n>', 'engine threads', count)
    .option('--json', 'print the report as JSON')
    .action(async (opts, cmd: Command) => {
      const res = await withInterrupt((signal) =>
        badEncoder(
          {
            encoder: opts.encoder,
            data: opts.data,
            dataOptions: splitOptions(cmd, 'split'),
            shadowCount: opts.shadowCount,
            referenceCount: opts.references,
            target: opts.target,
            trigger: opts.trigger,
            out: opts.out,
            epochs: opts.epochs,
            batchSize: opts.batch,
            lr: opts.lr,
            momentum: opts.momentum,
            weightDecay: opts.weightDecay,
            lambda1: opts.lambda1,
            lambda2: opts.lambda2,
            seed: opts.seed,
            transform: { normalize: opts.normalize, size: opts.resize as SizeMode, channelMode: opts.convertChannels ? 'convert' : 'error' },
            threads: opts.threads,
          },
          { signal, onProgress: (p) => process.stderr.write(`epoch ${p.epoch}/${p.epochs}  loss ${p.loss.toFixed(4)} (L0 ${p.l0.toFixed(4)} L1 ${p.l1.toFixed(4)} L2 ${p.l2.toFixed(4)})\n`) },
        ),
      );
      if (!res) return;
      if (opts.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
      else process.stdout.write(`encoder ${res.encoder}\nsha256 ${res.sha256}\ntrigger ${res.trigger} -> class ${res.target}; ${res.seconds.toFixed(1)} s\n`);
    });

  addPretrainOptions(
    attack
      .command('poison')
      .description('poisoning: SimCLR pre-training on data where a fraction of the target-class images carry the trigger')
      .requiredOption('--trigger <spec>', 'e.g. white:10@21,21, blend:noise@0.15, freq:100')
      .requiredOption('--target <k>', 'target class', int(0))
      .option('--poison-fraction <f>', 'share of the target-class images stamped', fraction, 0.5),
  ).action(async (opts, cmd: Command) => {
    checkTemplateConflicts(cmd);
    const base = pretrainOptions(opts, cmd);
    const seed = base.seed ?? 0;
    const { spec } = await encoderSpec(base.architecture ?? {}, seed);
    const [C, H, W] = spec.inputs[0].shape;
    let ds = await openDataset(opts.data, splitOptions(cmd, 'split'));
    if (opts.count !== undefined) ds = sampleImages(ds, opts.count, seed);
    ds = await toModelLayoutAsync(ds, C, H, W, base.transform);
    const trig = await resolveTrigger(opts.trigger, { channels: C, height: H, width: W });
    const p = poisonDataset(ds, trig, opts.target, opts.poisonFraction, seed);
    process.stderr.write(`mimic: stamped ${p.poisoned.length} of ${p.targetCount} class-${opts.target} images (${ds.count} in all) with ${trig.spec}\n`);
    const res = await withInterrupt((signal) =>
      pretrain(
        { ...base, data: p.dataset, count: undefined, provenance: { attack: 'poison', trigger: trig.spec, target: opts.target, poisonFraction: opts.poisonFraction, poisoned: p.poisoned.length, targetCount: p.targetCount } },
        { signal, onProgress: (q) => q.epochDone && process.stderr.write(pretrainLine(q) + '\n') },
      ),
    );
    if (!res) return;
    if (opts.json) process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    else process.stdout.write(`encoder ${res.outputs.encoder}\nreport ${res.outputs.report}\n${res.seconds.toFixed(1)} s\n`);
  });
}
