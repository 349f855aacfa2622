/** `mimic eval`: downstream clean accuracy and attack success rate of an encoder (kNN, linear probe, MLP). */
import { Option, type Command } from 'commander';
import { count, int, positive, seed, unitOpen, imageShape } from './args.ts';
import { splitOptions } from './common.ts';
import { evaluate, type EvaluateProgress } from '../eval/evaluate.ts';
import { formatEvaluation } from '../eval/table.ts';
import { KNN_DEFAULTS } from '../eval/knn.ts';
import { LINEAR_DEFAULTS } from '../eval/linear.ts';
import { MLP_DEFAULTS } from '../eval/mlp.ts';
import { CLASSIFIERS, type ClassifierKind } from '../eval/types.ts';
import type { SizeMode } from '../data/transform.ts';

function progressLine(p: EvaluateProgress): string {
  if (p.stage.startsWith('encode')) return `${p.stage.slice(7)} features ${p.done}/${p.total} images`;
  if (p.stage === 'knn') return `knn ${p.done}/${p.total} test rows`;
  return `${p.stage} epoch ${p.done}/${p.total}${p.loss !== undefined ? ` loss ${p.loss.toFixed(4)}` : ''}`;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('downstream evaluation: clean accuracy (CA) and attack success rate (ASR) of classifiers trained on the encoder\'s clean features')
    .requiredOption('--encoder <model>', 'the encoder (ONNX)')
    .requiredOption('--train <path>', 'labelled train images: IDX (gz), CIFAR binary, NPY/NPZ, or a folder of PNGs with labels.csv')
    .requiredOption('--test <path>', 'labelled test images (may be the same folder as --train, with another split)')
    .option('--train-split <name>', 'split of --train for folders with several', 'train')
    .option('--test-split <name>', 'split of --test for folders with several', 'test')
    .option('--trigger <spec>', 'trigger stamped on the test images, e.g. white:10@21,21, png:t.png, blend:noise@0.15, freq:100')
    .option('--target <k>', 'the attack\'s target class (with --trigger)', int(0))
    .option('--classifiers <list>', `comma-separated, from ${CLASSIFIERS.join(', ')}`, CLASSIFIERS.join(','))
    .option('--knn-k <k>', 'kNN neighbours', count, KNN_DEFAULTS.k)
    .option('--knn-t <t>', 'kNN temperature (weights exp(sim / t))', positive, KNN_DEFAULTS.t)
    .option('--linear-epochs <n>', 'linear probe epochs', count, LINEAR_DEFAULTS.epochs)
    .option('--linear-lr <x>', 'linear probe Adam learning rate', positive, LINEAR_DEFAULTS.lr)
    .option('--linear-batch <n>', 'linear probe batch size', count, LINEAR_DEFAULTS.batchSize)
    .option('--mlp-epochs <n>', 'MLP epochs (the BadEncoder paper trains 500)', count, MLP_DEFAULTS.epochs)
    .option('--mlp-lr <x>', 'MLP Adam learning rate', positive, MLP_DEFAULTS.lr)
    .option('--mlp-batch <n>', 'MLP batch size', count, MLP_DEFAULTS.batchSize)
    .option('--mlp-dropout <p>', 'MLP dropout after the first hidden layer', unitOpen, MLP_DEFAULTS.dropout)
    .option('--mlp-no-standardize', "MLP input as the authors': L2-normalised features only (default: also standardised)")
    .option('--train-count <n>', 'use a seeded random subset of the train images', count)
    .option('--test-count <n>', 'use a seeded random subset of the test images', count)
    .option('--features <name>', 'feature tensor (default: the first model output)')
    .option('--input-shape <C,H,W>', "the image size, for a model whose input leaves H and W free", imageShape)
    .addOption(new Option('--normalize <preset>', 'input normalisation (after the trigger)').choices(['none', 'cifar10']).default('none'))
    .addOption(new Option('--resize <mode>', 'when image and model sizes differ').choices(['error', 'pad', 'resize']).default('error'))
    .option('--convert-channels', 'adapt 1 <-> 3 channels (gray replicated / luminance)')
    .option('--seed <n>', 'seed of the subsets and the classifiers', seed, 0)
    .option('--batch <n>', 'encoder batch size', count, 64)
    .option('-t, --threads <n>', 'engine threads (default: all cores)', count)
    .option('--encoder-threads <n>', 'onnxruntime intra-op threads', count, 1)
    .addOption(new Option('--provider <p>', 'onnxruntime execution provider').choices(['cpu', 'cuda']).default('cpu'))
    .option('--json', 'print the result as JSON')
    .action(async (opts, cmd: Command) => {
      const tty = !!process.stderr.isTTY;
      let lastLen = 0;
      let lastStage = '';
      const res = await evaluate({
        encoder: opts.encoder,
        train: opts.train,
        test: opts.test,
        trainOptions: splitOptions(cmd, 'trainSplit'),
        testOptions: splitOptions(cmd, 'testSplit'),
        trigger: opts.trigger,
        target: opts.target,
        classifiers: String(opts.classifiers).split(',').map((s) => s.trim()).filter(Boolean) as ClassifierKind[],
        knn: { k: opts.knnK, t: opts.knnT },
        linear: { epochs: opts.linearEpochs, lr: opts.linearLr, batchSize: opts.linearBatch },
        mlp: { epochs: opts.mlpEpochs, lr: opts.mlpLr, batchSize: opts.mlpBatch, dropout: opts.mlpDropout, standardize: !opts.mlpNoStandardize },
        trainCount: opts.trainCount,
        testCount: opts.testCount,
        features: opts.features,
        inputShape: opts.inputShape,
        normalize: opts.normalize,
        size: opts.resize as SizeMode,
        channelMode: opts.convertChannels ? 'convert' : 'error',
        seed: opts.seed,
        batchSize: opts.batch,
        threads: opts.threads,
        encoderThreads: opts.encoderThreads,
        provider: opts.provider,
        onMessage: (m) => process.stderr.write(`mimic: ${m}\n`),
        onProgress: (p) => {
          const done = p.done >= p.total;
          if (tty) {
            const line = progressLine(p);
            if (p.stage !== lastStage && lastLen > 0) {
              process.stderr.write('\n');
              lastLen = 0;
            } else process.stderr.write('\r');
            process.stderr.write(`${line}${' '.repeat(Math.max(0, lastLen - line.length))}`);
            lastLen = line.length;
            lastStage = p.stage;
          } else if (done) process.stderr.write(progressLine(p) + '\n');
        },
      });
      if (tty && lastLen > 0) process.stderr.write('\n');
      process.stdout.write(opts.json ? JSON.stringify(res, null, 2) + '\n' : formatEvaluation(res) + '\n');
    });
}
