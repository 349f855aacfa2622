/**
 * Option objects of the public calls refuse names they do not know: a misspelt option (`epoch` for `epochs`) would
 * otherwise be ignored and its default used without a word.
 */
import { invalid } from '../errors.ts';

/** The option names of T, listed once; the compiler checks that the list is exactly T's keys. */
export function optionNames<T>(names: { [K in keyof Required<T>]: true }): readonly string[] {
  return Object.keys(names);
}

/** Throws E_INVALID_ARGUMENT for a key of `o` (with a defined value) outside `known`, suggesting the nearest name. */
export function checkOptionNames(o: object, known: readonly string[], what: string): void {
  if (o === null || typeof o !== 'object') throw invalid(`${what}: the options must be an object (got ${o === null ? 'null' : typeof o})`);
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || known.includes(k)) continue;
    const near = nearest(k, known);
    throw invalid(`${what}: unknown option '${k}'${near ? ` (did you mean '${near}'?)` : ''}; the options are ${known.join(', ')}`);
  }
}

/** The known name closest to `k` by edit distance (case-insensitive), if it is close enough to be a typo. */
function nearest(k: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(k.length / 3)) + 1;
  for (const name of known) {
    const d = editDistance(k.toLowerCase(), name.toLowerCase());
    if (d < bestD) [best, bestD] = [name, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; ++i) {
    const cur = [i];
    for (let j = 1; j <= b.length; ++j) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
