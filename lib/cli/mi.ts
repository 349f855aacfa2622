/** `mimic mi`. */
import { Option, type Command } from 'commander';
import { count, int, seed, imageShape } from './args.ts';
import { localize } from '../mi/localize.ts';
import { formatLocalize } from '../mi/localize-table.ts';
import { QUANTITIES, type Quantity } from '../mi/estimate.ts';
import type { SizeMode } from '../data/transform.ts';
import { parseList, splitOptions } from './common.ts';

export function registerMi(program: Command): void {
  program
    .command('mi')
    .description('MI localisation: I(T;Z) of every probe of the teacher against its features on N clean images, and the MIMIC weights')
    .requiredOption('--teacher <model>', 'the suspect encoder (ONNX)')
    .requiredOption('--data <path>', 'clean images: IDX (gz), CIFAR binary, NPY/NPZ, or a folder of PNGs')
    .option('-n, --n <count>', 'images used (a seeded random subset)', int(2), 2000)
    .option('--seed <n>', 'subset seed', seed, 0)
    .option('--split <name>', 'dataset split for folders with several (train, test)', 'train')
    .option('--probes <names>', 'comma-separated probe tensors (default: automatic)')
    .option('--features <name>', 'feature tensor (default: the first model output)')
    .option('--input-shape <C,H,W>', "the image size, for a model whose input leaves H and W free", imageShape)
    .option('-b, --bandwidth <list>', 'bandwidth factors (relative) or sigma^2 (--absolute)', '0.0625,0.25,1')
    .option('--absolute', 'treat --bandwidth values as absolute sigma^2')
    .option('-q, --quantities <list>', `estimated per probe, from: ${QUANTITIES.join(', ')}`, 'I_TZ,I_TZ_loo')
    .option('--weight-quantity <q>', 'the estimate the MIMIC weights use', 'I_TZ_loo')
    .option('--weight-bandwidth <i>', 'the bandwidth index the MIMIC weights use', int(0), 0)
    .addOption(new Option('--normalize <preset>', 'input normalisation').choices(['none', 'cifar10']).default('none'))
    .addOption(new Option('--resize <mode>', 'when image and model sizes differ').choices(['error', 'pad', 'resize']).default('error'))
    .option('--convert-channels', 'adapt 1 <-> 3 channels (gray replicated / luminance)')
    .option('--batch <n>', 'teacher batch size', count, 64)
    .option('-t, --threads <n>', 'KDE threads (default: all cores)', count)
    .option('--teacher-threads <n>', 'onnxruntime intra-op threads (default: the engine threads)', count)
    .addOption(new Option('--provider <p>', 'onnxruntime execution provider').choices(['cpu', 'cuda']).default('cpu'))
    .addOption(new Option('--backend <b>', 'KDE backend').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('--json', 'print the result as JSON')
    .action(async (opts, cmd: Command) => {
      const quiet = !process.stderr.isTTY;
      const res = await localize({
        teacher: opts.teacher,
        data: opts.data,
        dataOptions: splitOptions(cmd, 'split'),
        n: opts.n,
        seed: opts.seed,
        probes: opts.probes ? String(opts.probes).split(',') : undefined,
        features: opts.features,
        inputShape: opts.inputShape,
        bandwidth: { mode: opts.absolute ? 'absolute' : 'relative', values: parseList(opts.bandwidth) },
        quantities: String(opts.quantities).split(',') as Quantity[],
        weights: { quantity: opts.weightQuantity as Quantity, bandwidthIndex: opts.weightBandwidth },
        transform: { normalize: opts.normalize, size: opts.resize as SizeMode, channelMode: opts.convertChannels ? 'convert' : 'error' },
        batchSize: opts.batch,
        threads: opts.threads,
        teacherThreads: opts.teacherThreads,
        provider: opts.provider,
        backend: opts.backend,
        onMessage: (m) => process.stderr.write(`mimic: ${m}\n`),
        onProgress: quiet
          ? undefined
          : (p) => process.stderr.write(p.stage === 'teacher' ? `\rteacher ${p.done}/${p.total} images` : p.done === 0 ? '\nestimating MI...' : ' done\n'),
      });
      process.stdout.write(opts.json ? JSON.stringify(res, null, 2) + '\n' : formatLocalize(res) + '\n');
    });
}
