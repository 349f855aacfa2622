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

/**
 * The async calls copy their input arrays into buffers they keep for the next calls (up to MIMIC_COPY_CACHE_MB,
 * default 1024 MiB; one unused for a minute is freed at the next call). This frees them now, e.g. when a service
 * goes idle after a large call; returns the bytes freed.
 */
export function releaseCopyBuffers(): number {
  return native().releaseCopyBuffers();
}

/** Bytes the kept copy buffers hold now. */
export function copyBufferBytes(): number {
  return native().copyBufferBytes();
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
