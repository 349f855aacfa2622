/** `mimic demo`: the main job on built-in defaults. */
import { type Command } from 'commander';
import { count, int, seed } from './args.ts';
import { runDemo } from '../demo.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the built-in demo: batched MI on a synthetic network, then removing a real backdoor: the committed BadEncoder ' +
        'teacher is evaluated, cleaned with MIMIC on 4% of Fashion-MNIST (Debian\'s dataset-fashion-mnist) and the student ' +
        'evaluated (clean accuracy and attack success rate, before and after)',
    )
    .option('-n, --samples <n>', 'samples for the MI part', int(2), 2000)
    .option('--epochs <n>', 'cleaning epochs', count, 20)
    .option('--faithful', 'clean with the published method as written (no perturbation-invariant distillation)')
    .option('--eval-train <n>', 'kNN train images', count, 10000)
    .option('--eval-test <n>', 'kNN test images', count, 2000)
    .option('--out-dir <dir>', 'where the student, checkpoint, report and evaluation go', 'mimic-demo')
    .option('--seed <n>', 'seed', seed, 1)
    .option('--json', 'print JSON')
    .action(async (opts) => {
      await runDemo({ samples: opts.samples, seed: opts.seed, json: !!opts.json, epochs: opts.epochs, outDir: opts.outDir, faithful: !!opts.faithful, evalTrain: opts.evalTrain, evalTest: opts.evalTest });
    });
}
