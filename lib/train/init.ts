/**
 * torchvision-style initialisation of a fresh student, seeded.
 *
 *   Conv weight (OC, C/g, KH, KW): Kaiming-normal, mode fan_out, ReLU gain:  N(0, 2 / (OC * KH * KW))
 *                                  (torchvision's ResNet: kaiming_normal_(mode='fan_out', nonlinearity='relu'))
 *   Conv bias:                     0
 *   BatchNorm:                     gamma 1, beta 0, running mean 0, running var 1
 *   Linear (Gemm / MatMul) weight: PyTorch's default, kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 *   Linear bias:                   U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 *
 * Seeding: the tensor with index i in the spec's params list is drawn from its own generator seeded with
 * paramSeed(seed, i) (a 32-bit hash), so the same seed and the same graph give bit-identical weights, and
 * one tensor's values do not depend on the sizes of the tensors before it.
 */
import { gaussian, mulberry32 } from '../util/rng.ts';

/** The generator seed of the params-list entry `index` under the run seed `seed` (a murmur3-style mix). */
export function paramSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Kaiming-normal, fan_out mode, ReLU gain: std = sqrt(2 / (OC * KH * KW)) for a weight of dims (OC, C/g, KH, ...). */
export function kaimingNormalFanOut(dims: number[], seed: number): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const receptive = dims.slice(2).reduce((a, b) => a * b, 1);
  const fanOut = dims[0] * receptive;
  return gaussian(n, seed, Math.sqrt(2 / fanOut));
}

/** U(-bound, bound) with bound = 1 / sqrt(fanIn): PyTorch's default Linear weight (and bias) initialisation. */
export function linearDefault(n: number, fanIn: number, seed: number): Float32Array {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  const u = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; ++i) out[i] = (2 * u() - 1) * bound;
  return out;
}

export function constant(n: number, value: number): Float32Array {
  return new Float32Array(n).fill(value);
}
