/** Plain-text table of an MIEstimate: one row per (layer, bandwidth), one column per quantity. */
import type { MIEstimate } from './estimate.ts';

export function formatEstimate(est: MIEstimate): string {
  const head = ['layer', 'dim', 'sigma^2', ...est.quantities, 'saturated'];
  const rows: string[][] = [];
  for (const layer of est.layers)
    layer.s2.forEach((s2, b) => {
      rows.push([
        b === 0 ? layer.name : '',
        b === 0 ? String(layer.dim) : '',
        s2.toPrecision(4),
        ...est.quantities.map((q) => (layer.values[q]?.[b] ?? NaN).toFixed(4)),
        `${(100 * layer.saturation[b]).toFixed(1)}%`,
      ]);
    });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((x, c) => (c < 1 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ');
  const bw = est.bandwidth;
  const how =
    bw.mode === 'relative'
      ? `sigma^2 = factor x ${bw.scale} (factors ${bw.values.join(', ')})`
      : `absolute sigma^2 ${bw.values.join(', ')}`;
  const f = est.features;
  const z = f
    ? `features ${f.name} (${f.dim}-d): sigma^2 ${f.s2.map((v) => v.toPrecision(4)).join(', ')}, saturated ${f.saturation.map((v) => `${(100 * v).toFixed(1)}%`).join(', ')}`
    : undefined;
  return [
    `N = ${est.n}, ln N ceiling = ${est.lnN.toFixed(4)} nats, ${how}, backend ${est.backend}, ` +
      `${(est.seconds.check + est.seconds.scale + est.seconds.estimate).toFixed(3)} s`,
    ...(z ? [z] : []),
    line(head),
    ...rows.map(line),
  ].join('\n');
}
