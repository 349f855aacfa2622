/**
 * Option value parsers for commander: a bad value is a usage error naming the option ("option '--epochs <n>'
 * argument '0' is invalid. ...") raised while the command line is parsed, before any model or data is read.
 */
import { InvalidArgumentError } from 'commander';

// decimal numbers only: Number() would also take '0x1', '1e', ' ' and ''
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A parser of finite decimal numbers that pass `ok`; `rule` says what they must be. */
const checked = (ok: (x: number) => boolean, rule: string) => (v: string): number => {
  const x = Number(v);
  if (!DECIMAL.test(v.trim()) || !Number.isFinite(x)) throw new InvalidArgumentError(`'${v}' is not a number.`);
  if (!ok(x)) throw new InvalidArgumentError(`${rule}.`);
  return x;
};

/** An integer >= min. */
export const int = (min: number) => checked((x) => Number.isInteger(x) && x >= min, `must be an integer >= ${min}`);
/** A positive integer (counts, epochs, batch sizes, threads). */
export const count = int(1);
/** An integer seed (any sign). */
export const seed = checked(Number.isInteger, 'must be an integer');
/** A number > 0 (learning rates, temperatures). */
export const positive = checked((x) => x > 0, 'must be > 0');
/** A number >= 0 (weights of loss terms, weight decay). */
export const nonNegative = checked((x) => x >= 0, 'must be >= 0');
/** A share in (0, 1]. */
export const fraction = checked((x) => x > 0 && x <= 1, 'must be in (0, 1]');
/** A number in [0, 1) (momentum, dropout). */
export const unitOpen = checked((x) => x >= 0 && x < 1, 'must be in [0, 1)');
/** An image shape C,H,W (three positive integers), for models whose input leaves H and W free. */
export const imageShape = (v: string): number[] => {
  const parts = v.split(',');
  if (parts.length !== 3) throw new InvalidArgumentError(`'${v}' is not C,H,W (three integers, e.g. 3,32,32).`);
  return parts.map((p) => count(p.trim()));
};
