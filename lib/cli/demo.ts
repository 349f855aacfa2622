/** `mimic demo`: the main job on built-in defaults. */
import { type Command } from 'commander';
import { runDemo } from '../demo.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the built-in demo: batched MI on a synthetic network, then a MIMIC cleaning run of the bundled ResNet-18 ' +
        'teacher on 4% of Fashion-MNIST (seeded synthetic images when Debian\'s dataset-fashion-mnist is absent)',
    )
    .option('-n, --samples <n>', 'samples for the MI part (and synthetic images)', (v) => Number(v), 2000)
    .option('--epochs <n>', 'cleaning epochs', (v) => Number(v), 2)
    .option('--out-dir <dir>', 'where the student, checkpoint and report go', 'mimic-demo')
    .option('--seed <n>', 'seed', (v) => Number(v), 1)
    .option('--json', 'print JSON')
    .action(async (opts) => {
      await runDemo({ samples: opts.samples, seed: opts.seed, json: !!opts.json, epochs: opts.epochs, outDir: opts.outDir });
    });
}
