/** Plain-text table of an evaluation: per classifier, clean accuracy and attack success rates, in %. */
import type { EvaluateResult } from './evaluate.ts';

const pct = (v: number | undefined) => (v === undefined ? '-' : Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(2));

export function formatEvaluation(r: EvaluateResult): string {
  const c = r.config;
  const trig = c.trigger !== null;
  const head = ['classifier', 'CA %', ...(trig ? ['ASR % (non-target)', 'ASR % (all)'] : [])];
  const rows = c.classifiers.map((k) => [k, pct(r.cleanAccuracy[k]), ...(trig ? [pct(r.asr?.[k]), pct(r.asrAll?.[k])] : [])]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (row: string[]) => row.map((x, i) => (i === 0 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  const settings = [
    c.knn ? `knn k=${c.knn.k} t=${c.knn.t}` : '',
    c.linear ? `linear ${c.linear.epochs} epochs lr ${c.linear.lr}` : '',
    c.mlp ? `mlp ${c.mlp.hidden.join('-')} ${c.mlp.epochs} epochs lr ${c.mlp.lr}${c.mlp.standardize ? '' : ' (L2-normalised input only)'}` : '',
  ].filter(Boolean);
  const times = [`encode ${r.seconds.encode.toFixed(1)} s`, ...c.classifiers.map((k) => `${k} ${(r.seconds[k] ?? 0).toFixed(1)} s`), `total ${r.seconds.total.toFixed(1)} s`];
  return [
    `encoder ${r.encoder.source} (input ${r.encoder.input} ${r.encoder.inputShape.join('x')}), features ${r.encoder.features} (${r.encoder.featureDim}-d), on ${r.provider}`,
    `train ${r.counts.train} of ${r.data.train.count} images (${r.data.train.source}), test ${r.counts.test} of ${r.data.test.count} (${r.data.test.source}), ${r.counts.classes} classes, seed ${c.seed}`,
    trig ? `trigger ${c.trigger}, target class ${c.target} (${r.counts.testNonTarget} non-target test images)` : 'no trigger: clean accuracy only',
    settings.join('; '),
    line(head),
    ...rows.map(line),
    times.join(', '),
  ].join('\n');
}
