/** MIMIC's per-layer attention weights from the layers' mutual information with the features. */
import { invalid } from '../errors.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export interface BetaOptions {
  /** Every layer's floor (default 1000). */
  base?: number;
  /** Shared out in proportion to MI (default 10000). */
  momentum?: number;
}

const BETA_OPTIONS = optionNames<BetaOptions>({ base: true, momentum: true });

/**
 * beta_l = base + momentum * MI_l / sum_k MI_k. Negative or non-finite MI counts as 0 (the estimator's bias can
 * push an unrelated layer below 0); when every MI is 0 the momentum is split evenly, so the weights still sum to
 * L * base + momentum.
 */
export function mimicBeta(mi: readonly number[], options: BetaOptions = {}): number[] {
  checkOptionNames(options, BETA_OPTIONS, 'mimicBeta');
  const base = options.base ?? 1000;
  const momentum = options.momentum ?? 10000;
  if (!Number.isFinite(base) || !Number.isFinite(momentum)) throw invalid('beta: base and momentum must be finite numbers');
  if (!Array.isArray(mi)) throw invalid('beta: mi must be an array of numbers');
  if (mi.length === 0) throw invalid('beta: at least one layer is required');
  const clean = mi.map((m) => (Number.isFinite(m) && m > 0 ? m : 0));
  const total = clean.reduce((a, b) => a + b, 0);
  return clean.map((m) => base + (total > 0 ? (momentum * m) / total : momentum / clean.length));
}
