/** Shared by the loss tests: the addon's `losses` object and tolerance checks scaled to a tensor's magnitude. */
import assert from 'node:assert/strict';
import { native } from '../lib/native.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Fn = (args: Record<string, unknown>) => any;
export const losses = (native() as unknown as { losses: Record<string, Fn> & { ref: Record<string, Fn> } }).losses;
export const ref = losses.ref;

export const f64 = (a: Float32Array) => Float64Array.from(a);
export const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i]));
  return m;
};

/** max |a - b| <= tol * max(max|b|, floor) (NaN never passes); floor: the gradient's natural scale, for
 *  inputs whose exact gradient is 0 (D = 1). */
export function assertArrayClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string, floor = 1e-30) {
  assert.equal(a.length, b.length, `${what}: length`);
  const scale = Math.max(maxAbs(b), floor);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < a.length; ++i) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  assert.ok(worst <= tol * scale, `${what}: worst error ${worst} at ${at} (${a[at]} vs ${b[at]}), scale ${scale}`);
}

/** The smallest L2 norm over the rows of x (rows x d): the gradient through u / |u| scales by 1 / |u|, so a
 *  near-zero row (likely at D = 1) sets the gradient's natural scale, the floor of assertArrayClose. */
export function minRowNorm(x: ArrayLike<number>, rows: number, d: number): number {
  let m = Infinity;
  for (let r = 0; r < rows; ++r) {
    let s = 0;
    for (let j = 0; j < d; ++j) s += x[r * d + j] ** 2;
    m = Math.min(m, Math.sqrt(s));
  }
  return m;
}

export function assertLossClose(a: number, b: number, tol: number, scale: number, what: string) {
  assert.ok(Math.abs(a - b) <= tol * Math.max(Math.abs(b), scale), `${what}: ${a} vs reference ${b}`);
}
