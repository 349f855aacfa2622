/** `mimic mi-arrays`. */
import { Option, type Command } from 'commander';
import { count, seed } from './args.ts';
import { MimicError } from '../errors.ts';
import { estimateMI, QUANTITIES, type Quantity } from '../mi/estimate.ts';
import { formatEstimate } from '../mi/table.ts';
import { readNpy, toMatrix } from '../io/npy.ts';
import { collect, parseList } from './common.ts';

export function registerMiArrays(program: Command): void {
  program
    .command('mi-arrays')
    .description('KDE mutual information of layers (.npy, N x ...) against features (.npy, N x ...)')
    .requiredOption('-l, --layer <file>', 'a layer activation file (.npy); repeat for several layers', collect, [])
    .option('-f, --features <file>', 'feature file Z (.npy)')
    .option('--labels <file>', 'integer labels (.npy, N) for I(T;Y)')
    .option('-b, --bandwidth <list>', 'comma-separated factors (relative) or sigma^2 values (--absolute)', '0.0625,0.25,1')
    .option('--absolute', 'treat --bandwidth values as absolute sigma^2')
    .addOption(new Option('--scale <kind>', 'scale statistic for relative bandwidths').choices(['medianSq', 'meanSqNorm']).default('medianSq'))
    .option('-q, --quantities <list>', `comma-separated, from: ${QUANTITIES.join(', ')}`)
    .option('-t, --threads <n>', 'threads (default: all cores)', count)
    .addOption(new Option('--backend <b>', 'compute backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .addOption(new Option('--precision <p>', 'fp32 engine or fp64 reference').choices(['fp32', 'fp64']).default('fp32'))
    .option('--seed <n>', 'seed of the pair subsample for the scale statistic', seed, 0)
    .option('--json', 'print the estimate as JSON')
    .action(async (opts) => {
      if ((opts.layer as string[]).length === 0)
        throw new MimicError('E_INVALID_ARGUMENT', 'mi-arrays: at least one --layer <file.npy> is required');
      const layers = [];
      for (const file of opts.layer as string[]) layers.push({ ...toMatrix(await readNpy(file), file), name: file });
      const features = opts.features ? { ...toMatrix(await readNpy(opts.features), opts.features), name: opts.features } : undefined;
      let labels: Int32Array | number[] | undefined;
      if (opts.labels) {
        // the values as read (int64 as numbers): estimateMI refuses 0.5, -1 or 2^31 instead of truncating them
        const a = await readNpy(opts.labels);
        labels = a.data instanceof Int32Array ? a.data : Array.from(a.data as ArrayLike<number | bigint>, (v) => Number(v));
      }
      const est = await estimateMI({
        layers,
        features,
        labels,
        bandwidth: { mode: opts.absolute ? 'absolute' : 'relative', values: parseList(opts.bandwidth), scale: opts.scale, seed: opts.seed },
        quantities: opts.quantities ? (opts.quantities.split(',') as Quantity[]) : undefined,
        threads: opts.threads,
        backend: opts.backend,
        precision: opts.precision,
      });
      process.stdout.write(opts.json ? JSON.stringify(est, null, 2) + '\n' : formatEstimate(est) + '\n');
    });
}
