/** Shared test helpers: fresh seeds (printed, so a failure can be replayed with MIMIC_TEST_SEED) and data. */
import { gaussian, mulberry32 } from '../lib/util/rng.ts';

export function freshSeed(label: string): number {
  const fixed = process.env.MIMIC_TEST_SEED;
  const seed = fixed ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
  process.stderr.write(`# ${label}: seed ${seed}\n`);
  return seed;
}

export { gaussian, mulberry32 };

/** N samples of dim d: d/2... pairs (x_k, y_k) with correlation rho on the first `pairs` coordinates. */
export function correlated(n: number, dx: number, dy: number, rho: number, pairs: number, seed: number) {
  const a = gaussian(n * dx, seed);
  const e = gaussian(n * dy, seed + 7);
  const x = new Float32Array(n * dx);
  const y = new Float32Array(n * dy);
  const c = Math.sqrt(1 - rho * rho);
  for (let i = 0; i < n; ++i) {
    for (let k = 0; k < dx; ++k) x[i * dx + k] = a[i * dx + k];
    for (let k = 0; k < dy; ++k) y[i * dy + k] = k < pairs ? rho * a[i * dx + k] + c * e[i * dy + k] : e[i * dy + k];
  }
  return { x, y };
}

export function assertClose(actual: number, expected: number, tol: number, what: string): void {
  if (!(Math.abs(actual - expected) <= tol))
    throw new Error(`${what}: got ${actual}, expected ${expected} +/- ${tol} (off by ${Math.abs(actual - expected)})`);
}
