/** `mimic demo`. */
import { type Command } from 'commander';
import { runDemo } from '../demo.ts';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the built-in demo: MI localisation on a synthetic network (the cleaning demo arrives with `mimic clean`)')
    .option('-n, --samples <n>', 'samples', (v) => Number(v), 2000)
    .option('--seed <n>', 'seed', (v) => Number(v), 1)
    .option('--json', 'print JSON')
    .action(async (opts) => {
      await runDemo({ samples: opts.samples, seed: opts.seed, json: !!opts.json });
    });
}
