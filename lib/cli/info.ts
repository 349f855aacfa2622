/** `mimic info`. */
import { type Command } from 'commander';
import { native } from '../native.ts';

export function registerInfo(program: Command): void {
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
}
