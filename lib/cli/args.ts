/**
 * Option value parsers for commander: a bad value is a usage error naming the option ("option '--epochs <n>'
 * argument '0' is invalid. ...") raised while the command line is parsed, before any model or data is read.
 */
import { InvalidArgumentError } from 'commander';

// decimal numbers only: Number() would also take '0x1', '1e', ' ' and ''
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parse(v: string): number {
  const x = Number(v);
  if (!DECIMAL.test(v.trim()) || !Number.isFinite(x)) throw new InvalidArgumentError(`'${v}' is not a number.`);
  return x;
}

/** An integer >= min. */
export const int = (min: number) => (v: string): number => {
  const x = parse(v);
  if (!Number.isInteger(x) || x < min) throw new InvalidArgumentError(`must be an integer >= ${min}.`);
  return x;
};

/** A positive integer (counts, epochs, batch sizes, threads). */
export const count = int(1);

/** An integer seed (any sign). */
export const seed = (v: string): number => {
  const x = parse(v);
  if (!Number.isInteger(x)) throw new InvalidArgumentError('must be an integer.');
  return x;
};

/** A number > 0 (learning rates, temperatures). */
export const positive = (v: string): number => {
  const x = parse(v);
  if (!(x > 0)) throw new InvalidArgumentError('must be > 0.');
  return x;
};

/** A number >= 0 (weights of loss terms, weight decay). */
export const nonNegative = (v: string): number => {
  const x = parse(v);
  if (!(x >= 0)) throw new InvalidArgumentError('must be >= 0.');
  return x;
};

/** A share in (0, 1]. */
export const fraction = (v: string): number => {
  const x = parse(v);
  if (!(x > 0 && x <= 1)) throw new InvalidArgumentError('must be in (0, 1].');
  return x;
};

/** A number in [0, 1) (momentum, dropout). */
export const unitOpen = (v: string): number => {
  const x = parse(v);
  if (!(x >= 0 && x < 1)) throw new InvalidArgumentError('must be in [0, 1).');
  return x;
};
