/** Public API of the package. */
export { estimateMI, QUANTITIES } from './mi/estimate.ts';
export type { Bandwidth, EstimateMIOptions, LayerEstimate, Matrix, MIEstimate, Quantity } from './mi/estimate.ts';
export { formatEstimate } from './mi/table.ts';
export { MimicError } from './errors.ts';
export type { ErrorCode } from './errors.ts';
export { readNpy, parseNpy, writeNpy, encodeNpy, toMatrix } from './io/npy.ts';
export type { NpyArray, NpyDType } from './io/npy.ts';
export { sgemm, sgemmSync, buildInfo, setThreads } from './engine.ts';
export type { BuildInfo, KernelPathName, SgemmArgs } from './native.ts';
export * from './data/index.ts';
export * from './onnx/index.ts';
export { localize } from './mi/localize.ts';
export type { LocalizeOptions, LocalizeResult, ProbeReport } from './mi/localize.ts';
export { mimicBeta } from './mi/beta.ts';
export type { BetaOptions } from './mi/beta.ts';
export { TeacherRunner } from './teacher/runner.ts';
export type { TeacherOptions, TensorOut } from './teacher/runner.ts';
