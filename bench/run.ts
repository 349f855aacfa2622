/**
 * Runs the benchmark suites and prints Markdown for bench/RESULTS.md.
 *   npm run bench                 # all suites
 *   npm run bench -- gemm kde     # some
 *   MIMIC_BENCH_QUICK=1 npm run bench   # short sizes (smoke test of the harness)
 */
import { runGemmBench } from './gemm.bench.ts';
import { runKdeBench } from './kde.bench.ts';
import { runGpuBench } from './gpu.bench.ts';
import { runTrainBench } from './train.bench.ts';
import { runLossBench } from './loss.bench.ts';

const suites: Record<string, () => Promise<string>> = { gemm: runGemmBench, kde: runKdeBench, gpu: runGpuBench, train: runTrainBench, loss: runLossBench };
const wanted = process.argv.slice(2).filter((a) => a in suites);
const names = wanted.length ? wanted : Object.keys(suites);
const date = new Date().toISOString().slice(0, 10);
process.stdout.write(`## ${date}: npm run bench -- ${names.join(' ')}\n\n`);
for (const name of names) {
  process.stderr.write(`running ${name}...\n`);
  process.stdout.write((await suites[name]()) + '\n\n');
}
