/** Small helpers shared by the CLI commands. */
import { MimicError } from '../errors.ts';

export function parseList(v: string): number[] {
  return v.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new MimicError('E_INVALID_ARGUMENT', `'${s}' is not a positive number`);
    return n;
  });
}

export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
