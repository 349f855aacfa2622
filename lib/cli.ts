/** The `mimic` command line. Data goes to stdout (--json for machines), progress and logs to stderr. */
import { Command, CommanderError, Option } from 'commander';
import { MimicError } from './errors.ts';
import { native } from './native.ts';
import { estimateMI, QUANTITIES, type Quantity } from './mi/estimate.ts';
import { formatEstimate } from './mi/table.ts';
import { readNpy, toMatrix } from './io/npy.ts';
import { runDemo } from './demo.ts';

const EXIT_USAGE = 2;
const EXIT_INPUT = 3;
const EXIT_NATIVE = 4;

function parseList(v: string): number[] {
  return v.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new MimicError('E_INVALID_ARGUMENT', `'${s}' is not a positive number`);
    return n;
  });
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

const program = new Command();
program
  .name('mimic')
  .description('Backdoor removal for self-supervised image encoders (MIMIC) and batched KDE mutual information.')
  .showHelpAfterError()
  .exitOverride(); // usage errors throw (exit code 2 below) instead of exiting inside commander

program
  .command('info')
  .description('what the native engine was built with: CPU kernels, CUDA, GPU, threads')
  .option('--json', 'print JSON')
  .action((opts: { json?: boolean }) => {
    const info = native().buildInfo();
    if (opts.json) process.stdout.write(JSON.stringify(info, null, 2) + '\n');
    else
      process.stdout.write(
        `CPU kernels: ${info.kernelPath} (avx2=${info.avx2}, fma=${info.fma}), threads: ${info.threads}\n` +
          `CUDA compiled: ${info.cudaCompiled}, GPU: ${info.gpuAvailable ? `${info.gpuName} (${info.gpuCount})` : `none (${info.cudaMessage})`}\n`,
      );
  });

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
  .option('-t, --threads <n>', 'threads (default: all cores)', (v) => Number(v))
  .addOption(new Option('--backend <b>', 'compute backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
  .addOption(new Option('--precision <p>', 'fp32 engine or fp64 reference').choices(['fp32', 'fp64']).default('fp32'))
  .option('--seed <n>', 'seed of the pair subsample for the scale statistic', (v) => Number(v), 0)
  .option('--json', 'print the estimate as JSON')
  .action(async (opts) => {
    if ((opts.layer as string[]).length === 0)
      throw new MimicError('E_INVALID_ARGUMENT', 'mi-arrays: at least one --layer <file.npy> is required');
    const layers = [];
    for (const file of opts.layer as string[]) layers.push({ ...toMatrix(await readNpy(file), file), name: file });
    const features = opts.features ? { ...toMatrix(await readNpy(opts.features), opts.features), name: opts.features } : undefined;
    let labels: Int32Array | undefined;
    if (opts.labels) {
      const a = await readNpy(opts.labels);
      labels = a.data instanceof Int32Array ? a.data : Int32Array.from(a.data as ArrayLike<number>, (v) => Number(v));
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

program
  .command('demo')
  .description('the built-in demo: MI localisation on a synthetic network (the cleaning demo arrives with `mimic clean`)')
  .option('-n, --samples <n>', 'samples', (v) => Number(v), 2000)
  .option('--seed <n>', 'seed', (v) => Number(v), 1)
  .option('--json', 'print JSON')
  .action(async (opts) => {
    await runDemo({ samples: opts.samples, seed: opts.seed, json: !!opts.json });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed the message (or the help / version text)
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    process.exit();
  }
  const e = err as MimicError;
  process.stderr.write(`mimic: ${e.code ? `[${e.code}] ` : ''}${e.message}\n`);
  const code = e.code;
  process.exitCode =
    code === 'E_FILE' || code === 'E_FORMAT' || code === 'E_SHAPE_MISMATCH' || code === 'E_DTYPE' || code === 'E_NON_FINITE'
      ? EXIT_INPUT
      : code === 'E_NATIVE_LOAD' || code === 'E_CUDA' || code === 'E_INTERNAL'
        ? EXIT_NATIVE
        : EXIT_USAGE;
}
