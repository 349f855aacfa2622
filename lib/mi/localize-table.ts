/** Plain-text table of a localisation: probe, shape, the weighting estimate per bandwidth, saturation, weight. */
import type { LocalizeResult } from './localize.ts';

export function formatLocalize(r: LocalizeResult): string {
  const q = r.weightsFrom.quantity;
  const factors = r.bandwidth.values.map((v) => (r.bandwidth.mode === 'relative' ? `x${v}` : `s2=${v}`));
  const head = ['probe', 'shape', ...factors.map((f) => `${q} ${f}`), 'saturated', 'beta'];
  const rows = r.probes.map((p) => [
    p.name,
    p.shape.join('x'),
    ...p.values[q]!.map((v) => v.toFixed(4)),
    p.saturation.map((s) => `${Math.round(100 * s)}%`).join('/'),
    p.beta.toFixed(1),
  ]);
  const w = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((x, c) => (c < 2 ? x.padEnd(w[c]) : x.padStart(w[c]))).join('  ');
  return [
    `teacher ${r.model.source} (input ${r.model.input} ${r.model.inputShape.join('x')}, opset ${r.model.opset}), features ${r.features.name} (${r.features.dim}-d, L2-normalised)`,
    `N = ${r.n} clean images (seed ${r.subset.seed}, sha256 ${r.subset.sha256.slice(0, 16)}...), ln N ceiling = ${r.lnN.toFixed(4)} nats, ` +
      `bandwidth ${r.bandwidth.mode} ${r.bandwidth.mode === 'relative' ? r.bandwidth.scale : ''}, teacher on ${r.provider}, MI on ${r.backend}`,
    `beta = ${r.weightsFrom.base} + ${r.weightsFrom.momentum} x MI / sum MI, from ${q} at ${factors[r.weightsFrom.bandwidthIndex]}; ` +
      `${r.seconds.teacher.toFixed(2)} s teacher, ${r.seconds.mi.toFixed(2)} s MI`,
    line(head),
    ...rows.map(line),
  ].join('\n');
}
