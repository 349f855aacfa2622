/** Shared test helpers: fresh seeds (printed, so a failure can be replayed with MIMIC_TEST_SEED) and data. */
import { MessageChannel } from 'node:worker_threads';
import { gaussian, mulberry32 } from '../lib/util/rng.ts';
import type { ImageDataset } from '../lib/data/types.ts';

export function freshSeed(label: string): number {
  const fixed = process.env.MIMIC_TEST_SEED;
  const seed = fixed ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
  process.stderr.write(`# ${label}: seed ${seed}\n`);
  return seed;
}

export { gaussian, mulberry32 };

/** n seeded values, uniform in [-1, 1). */
export function randomUniform(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
}

/** Detaches `a`'s buffer the way a service hands it to a worker (postMessage), and drops it: its memory can be freed. */
export function transferAway(a: Float32Array | Uint8Array): void {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(a.buffer, [a.buffer as ArrayBuffer]);
  port1.close();
  port2.close();
  if (a.length !== 0) throw new Error('the array was not detached');
}

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

/** Smooth-ish random uint8 images (a random gradient per image plus noise, so layers carry image structure). */
export function smoothImages(n: number, c: number, size: number, seed: number, labels?: Int32Array): ImageDataset {
  const r = mulberry32(seed);
  const pixels = new Uint8Array(n * c * size * size);
  for (let i = 0; i < n; ++i) {
    const gx = r() * 2 - 1, gy = r() * 2 - 1, b = r();
    for (let ch = 0; ch < c; ++ch)
      for (let y = 0; y < size; ++y)
        for (let x = 0; x < size; ++x) {
          const v = 128 + 100 * (gx * (x / size - 0.5) + gy * (y / size - 0.5) + 0.5 * (b - 0.5)) + 30 * (r() - 0.5);
          pixels[((i * c + ch) * size + y) * size + x] = Math.max(0, Math.min(255, Math.round(v)));
        }
  }
  return { name: 'synthetic', count: n, channels: c, height: size, width: size, pixels, labels, source: `synthetic(seed ${seed})` };
}
