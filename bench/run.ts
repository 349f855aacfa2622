/**
 * Runs the benchmark suites and prints Markdown for bench/RESULTS.md.
 *   npm run bench                       # all suites
 *   npm run bench -- gemm kde           # some (gemm, kde, copy, service, gpu, train, loss, mimic, profile)
 *   MIMIC_BENCH_QUICK=1 npm run bench   # short sizes (smoke test of the harness)
 * Suites are imported on demand, so a machine without onnxruntime (e.g. a bare GPU box) can run the others.
 */
const suites: Record<string, () => Promise<() => Promise<string>>> = {
  gemm: async () => (await import('./gemm.bench.ts')).runGemmBench,
  kde: async () => (await import('./kde.bench.ts')).runKdeBench,
  copy: async () => (await import('./copy.bench.ts')).runCopyBench,
  service: async () => (await import('./service.bench.ts')).runServiceBench,
  gpu: async () => (await import('./gpu.bench.ts')).runGpuBench,
  train: async () => (await import('./train.bench.ts')).runTrainBench,
  loss: async () => (await import('./loss.bench.ts')).runLossBench,
  mimic: async () => (await import('./mimic.bench.ts')).runMimicBench,
  profile: async () => (await import('./profile.bench.ts')).runProfileBench,
};
const wanted = process.argv.slice(2).filter((a) => a in suites);
const names = wanted.length ? wanted : Object.keys(suites);
const date = new Date().toISOString().slice(0, 10);
process.stdout.write(`## ${date}: npm run bench -- ${names.join(' ')}\n\n`);
for (const name of names) {
  process.stderr.write(`running ${name}...\n`);
  const run = await suites[name]();
  process.stdout.write((await run()) + '\n\n');
}
