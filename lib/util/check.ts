/** Option checks shared by the training loops; the errors name the option and the value given. */
import { invalid } from '../errors.ts';

export function posInt(v: number | undefined, dflt: number, what: string): number {
  const x = v ?? dflt;
  if (!Number.isInteger(x) || x < 1) throw invalid(`${what} must be a positive integer (got ${v})`);
  return x;
}

export function posNum(v: number | undefined, dflt: number, what: string, allowZero = false): number {
  const x = v ?? dflt;
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0 || (!allowZero && x === 0)) throw invalid(`${what} must be a ${allowZero ? 'non-negative' : 'positive'} number (got ${v})`);
  return x;
}
