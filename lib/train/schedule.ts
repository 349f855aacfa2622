/**
 * Learning-rate schedules, evaluated per optimiser step (0-based): 'constant', or 'cosine' = linear warm-up from
 * lr / warmup to lr over `warmupSteps`, then half a cosine from lr down to `minLr` at the last step
 * (SGDR without restarts, as SimCLR and most SSL recipes use).
 */
import { invalid } from '../errors.ts';

export type ScheduleKind = 'constant' | 'cosine';

export interface Schedule {
  kind: ScheduleKind;
  lr: number;
  totalSteps: number;
  warmupSteps: number;
  minLr: number;
}

export function makeSchedule(kind: ScheduleKind, lr: number, totalSteps: number, warmupSteps = 0, minLr = 0): Schedule {
  if (kind !== 'constant' && kind !== 'cosine') throw invalid(`lr schedule must be 'constant' or 'cosine' (got '${kind}')`);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw invalid(`warm-up must be a non-negative whole number of steps (got ${warmupSteps})`);
  if (!(minLr >= 0) || minLr > lr) throw invalid(`minimum lr must be in [0, lr] (got ${minLr})`);
  return { kind, lr, totalSteps, warmupSteps, minLr };
}

/** The lr of step `step` (0-based). */
export function lrAt(s: Schedule, step: number): number {
  if (s.kind === 'constant') return s.lr;
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps - 1);
  const t = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (s.lr - s.minLr) * (1 + Math.cos(Math.PI * t));
}
