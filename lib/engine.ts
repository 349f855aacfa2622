/** Thin typed wrappers over the engine's general functions (GEMM, build info, thread count). */
import { fromNative } from './errors.ts';
import { native, type BuildInfo, type SgemmArgs } from './native.ts';

export function buildInfo(): BuildInfo {
  return native().buildInfo();
}

/** Sets the global thread pool size (0 = all cores); returns the new size. */
export function setThreads(n: number): number {
  try {
    return native().setThreads(n);
  } catch (err) {
    throw fromNative(err);
  }
}

/** C = alpha op(A) op(B) + beta C (row-major, float32), off the event loop; C is updated in place. */
export async function sgemm(args: SgemmArgs): Promise<void> {
  try {
    await native().sgemmAsync(args);
  } catch (err) {
    throw fromNative(err);
  }
}

/** Synchronous GEMM for small problems and benchmarks; blocks the calling thread. */
export function sgemmSync(args: SgemmArgs): void {
  try {
    native().sgemm(args);
  } catch (err) {
    throw fromNative(err);
  }
}
