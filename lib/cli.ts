/** The `mimic` command line. Data goes to stdout (--json for machines), progress and logs to stderr. */
import { Command, CommanderError, Option } from 'commander';
import { MimicError } from './errors.ts';
import { native } from './native.ts';
import { estimateMI, QUANTITIES, type Quantity } from './mi/estimate.ts';
import { formatEstimate } from './mi/table.ts';
import { readNpy, toMatrix } from './io/npy.ts';
import { runDemo } from './demo.ts';
import { localize } from './mi/localize.ts';
import { formatLocalize } from './mi/localize-table.ts';
import { autoProbes, inferShapes, loadModel, summarize } from './onnx/index.ts';
import type { SizeMode } from './data/transform.ts';

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
  .command('layers')
  .description("a model's tensors with their shapes (one onnxruntime run on 2 samples); the automatic probes marked *")
  .argument('<model>', 'ONNX file')
  .option('--input-shape <c,h,w>', 'per-sample input shape when the model leaves it symbolic')
  .option('--json', 'print JSON')
  .action(async (file: string, opts: { inputShape?: string; json?: boolean }) => {
    const model = await loadModel(file);
    const summary = summarize(model);
    const inputShape = opts.inputShape ? parseList(opts.inputShape).map(Math.round) : undefined;
    const shapes = await inferShapes(model, { inputShape });
    let auto: { probes: string[]; features: string } | undefined;
    let autoError: string | undefined;
    try {
      const set = autoProbes(model, shapes);
      auto = { probes: set.probes.map((p) => p.name), features: set.features.name };
    } catch (err) {
      autoError = (err as Error).message;
    }
    const entries = [...shapes.entries()];
    const outputNames = new Set(summary.outputs.map((o) => o.name));
    // topological order of the intermediates first, the model outputs last
    const ordered = [...entries.filter(([n]) => !outputNames.has(n)), ...entries.filter(([n]) => outputNames.has(n))];
    const tensors = ordered.map(([name, shape]) => ({
      name,
      shape: shape.slice(1),
      probe: auto?.probes.includes(name) ?? false,
      features: auto?.features === name,
    }));
    if (opts.json) {
      process.stdout.write(JSON.stringify({ file, irVersion: summary.irVersion, opset: summary.opset, producer: summary.producer, inputs: summary.inputs, outputs: summary.outputs, parameters: summary.parameters, opCounts: summary.opCounts, tensors, probes: auto?.probes ?? [], features: auto?.features ?? null, autoProbeError: autoError }, null, 2) + '\n');
      return;
    }
    const out = [
      `${file}: IR ${summary.irVersion}, opset ${summary.opset}, producer ${summary.producer.name} ${summary.producer.version}, ${summary.parameters} parameters`,
      `inputs: ${summary.inputs.map((i) => `${i.name} (${(i.shape ?? []).join(', ')})`).join('; ')}`,
      `outputs: ${summary.outputs.map((i) => `${i.name} (${(i.shape ?? []).join(', ')})`).join('; ')}`,
      autoError ? `automatic probes: none (${autoError})` : `automatic probes (*): ${auto!.probes.length}, features (=>): ${auto!.features}`,
      '',
      ...tensors.map((t) => `${t.probe ? '*  ' : t.features ? '=> ' : '   '}${t.name}  ${t.shape.join('x')}`),
    ];
    process.stdout.write(out.join('\n') + '\n');
  });

program
  .command('mi')
  .description('MI localisation: I(T;Z) of every probe of the teacher against its features on N clean images, and the MIMIC weights')
  .requiredOption('--teacher <model>', 'the suspect encoder (ONNX)')
  .requiredOption('--data <path>', 'clean images: IDX (gz), CIFAR binary, NPY/NPZ, or a folder of PNGs')
  .option('-n, --n <count>', 'images used (a seeded random subset)', (v) => Number(v), 2000)
  .option('--seed <n>', 'subset seed', (v) => Number(v), 0)
  .option('--split <name>', 'dataset split for folders with several (train, test)', 'train')
  .option('--probes <names>', 'comma-separated probe tensors (default: automatic)')
  .option('--features <name>', 'feature tensor (default: the first model output)')
  .option('-b, --bandwidth <list>', 'bandwidth factors (relative) or sigma^2 (--absolute)', '0.0625,0.25,1')
  .option('--absolute', 'treat --bandwidth values as absolute sigma^2')
  .option('-q, --quantities <list>', `estimated per probe, from: ${QUANTITIES.join(', ')}`, 'I_TZ,I_TZ_loo')
  .option('--weight-quantity <q>', 'the estimate the MIMIC weights use', 'I_TZ_loo')
  .option('--weight-bandwidth <i>', 'the bandwidth index the MIMIC weights use', (v) => Number(v), 0)
  .addOption(new Option('--normalize <preset>', 'input normalisation').choices(['none', 'cifar10']).default('none'))
  .addOption(new Option('--resize <mode>', 'when image and model sizes differ').choices(['error', 'pad', 'resize']).default('error'))
  .option('--convert-channels', 'adapt 1 <-> 3 channels (gray replicated / luminance)')
  .option('--batch <n>', 'teacher batch size', (v) => Number(v), 64)
  .option('-t, --threads <n>', 'KDE threads (default: all cores)', (v) => Number(v))
  .option('--teacher-threads <n>', 'onnxruntime intra-op threads', (v) => Number(v), 1)
  .addOption(new Option('--provider <p>', 'onnxruntime execution provider').choices(['cpu', 'cuda']).default('cpu'))
  .addOption(new Option('--backend <b>', 'KDE backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
  .option('--json', 'print the result as JSON')
  .action(async (opts) => {
    const quiet = !process.stderr.isTTY;
    const res = await localize({
      teacher: opts.teacher,
      data: opts.data,
      dataOptions: { split: opts.split },
      n: opts.n,
      seed: opts.seed,
      probes: opts.probes ? String(opts.probes).split(',') : undefined,
      features: opts.features,
      bandwidth: { mode: opts.absolute ? 'absolute' : 'relative', values: parseList(opts.bandwidth) },
      quantities: String(opts.quantities).split(',') as Quantity[],
      weights: { quantity: opts.weightQuantity as Quantity, bandwidthIndex: opts.weightBandwidth },
      transform: { normalize: opts.normalize, size: opts.resize as SizeMode, channelMode: opts.convertChannels ? 'convert' : 'error' },
      batchSize: opts.batch,
      threads: opts.threads,
      teacherThreads: opts.teacherThreads,
      provider: opts.provider,
      backend: opts.backend,
      onProgress: quiet
        ? undefined
        : (p) => process.stderr.write(p.stage === 'teacher' ? `\rteacher ${p.done}/${p.total} images` : p.done === 0 ? '\nestimating MI...' : ' done\n'),
    });
    process.stdout.write(opts.json ? JSON.stringify(res, null, 2) + '\n' : formatLocalize(res) + '\n');
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
