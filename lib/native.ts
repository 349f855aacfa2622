/** Loads the compiled addon (build/Release/mimic.node) once, with one error that lists causes and fixes. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MimicError } from './errors.ts';

/** CPU kernel families: 'auto' picks the best this CPU has. */
export type KernelPathName = 'auto' | 'generic' | 'avx2' | 'avx512';

export interface BuildInfo {
  cudaCompiled: boolean;
  gpuAvailable: boolean;
  gpuCount: number;
  gpuName: string;
  cudaMessage: string;
  avx2: boolean;
  fma: boolean;
  kernelPath: Exclude<KernelPathName, 'auto'>;
  threads: number;
}

export interface NativeMatrix {
  data: Float32Array;
  rows: number;
  cols: number;
  name?: string;
}

export interface NativeBandwidth {
  mode: 'relative' | 'absolute';
  values: number[];
  scale: 'medianSq' | 'meanSqNorm';
  pairs: number;
  seed: number;
}

export interface NativeKdeRequest {
  layers: NativeMatrix[];
  features?: NativeMatrix;
  labels?: Int32Array;
  bandwidth: NativeBandwidth;
  featureBandwidth: NativeBandwidth;
  quantities: number;
  threads: number;
  tile: number;
  path: KernelPathName;
  precision: 'fp32' | 'fp64';
  backend: 'cpu' | 'cuda';
  checkFinite: boolean;
  /** Set [0] to nonzero to stop the CPU engine between tiles (it then rejects with E_ABORTED). */
  cancel?: Int32Array;
  /** Read the arrays in place (no copies made at the call). */
  borrow?: boolean;
}

export interface NativeKdeResult {
  n: number;
  numLayers: number;
  numBandwidths: number;
  values: Float64Array;
  saturation: Float64Array;
  featureSaturation: Float64Array;
  s2Layers: Float64Array;
  s2Features: Float64Array;
  layerScales: Float64Array;
  featureScale: number;
  backend: string;
  secondsCheck: number;
  secondsScale: number;
  secondsEstimate: number;
  gemmThreadSeconds: number;
  gemmFlops: number;
  epilogueThreadSeconds: number;
  tile: number;
}

export interface SgemmArgs {
  transA?: boolean;
  transB?: boolean;
  m: number;
  n: number;
  k: number;
  alpha?: number;
  a: Float32Array;
  lda?: number;
  b: Float32Array;
  ldb?: number;
  beta?: number;
  c: Float32Array;
  ldc?: number;
  threads?: number;
  path?: KernelPathName;
  /**
   * sgemmAsync: read a and b and write c in place (default false: they are copied at the call and the product is
   * written into c when the call settles).
   */
  borrow?: boolean;
}

export interface NativeAddon {
  buildInfo(): BuildInfo;
  setThreads(n: number): number;
  setKernelPath(p: KernelPathName): void;
  releaseCopyBuffers(): number;
  copyBufferBytes(): number;
  sgemm(args: SgemmArgs): void;
  sgemmAsync(args: SgemmArgs): Promise<void>;
  estimateMI(req: NativeKdeRequest): Promise<NativeKdeResult>;
  kdeQuantityNames: string[];
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let cached: NativeAddon | undefined;

export function native(): NativeAddon {
  if (cached) return cached;
  const candidates = [join(root, 'build', 'Release', 'mimic.node'), join(root, 'build', 'Debug', 'mimic.node')];
  const found = candidates.find((p) => existsSync(p));
  const require = createRequire(import.meta.url);
  try {
    if (!found) throw new Error('no compiled addon found');
    cached = require(found) as NativeAddon;
    return cached;
  } catch (err) {
    throw new MimicError(
      'E_NATIVE_LOAD',
      `the native engine could not be loaded (${(err as Error).message}).\n` +
        `Looked in: ${candidates.join(', ')}.\n` +
        'Likely causes and fixes:\n' +
        '  - the addon was never built: run `npm install` (or `npm run build`) in the package folder;\n' +
        '  - the build failed: it needs cmake >= 3.18 and a C++17 compiler (g++ or clang++); see the npm log;\n' +
        '  - Node.js was upgraded after the build: run `npm run rebuild`;\n' +
        '  - the addon was copied from another platform: rebuild on this machine.',
      { cause: err },
    );
  }
}
