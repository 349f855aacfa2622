/**
 * Renders a cleaning report (report.json, schema version 1) as ONE self-contained HTML file: inline CSS, charts as
 * inline SVG, attention maps as data-URI PNGs; no scripts, fonts, stylesheets or images from anywhere else. Every
 * string taken from the report is escaped. Partial reports (a run that stopped early) render what they have and
 * list what is missing.
 */
import { barChart, colorbarSvg, escapeHtml as esc, fmt, heatmapDataUri, isNum, lineChart, type LineSeries } from './svg.ts';

export interface ReportManifest {
  source?: string;
  count?: number;
  selected?: number;
  seed?: number;
  method?: string;
  indices?: number[];
  sha256?: string;
  shape?: number[];
  labels?: boolean;
}

export interface ReportMiProbe {
  name: string;
  shape?: number[];
  dim?: number;
  scale?: number;
  s2?: number[];
  values?: Record<string, number[] | undefined>;
  saturation?: number[];
  beta?: number;
}

export interface ReportLoss {
  epoch: number;
  step: number;
  total: number;
  contrastive: number;
  attention: number;
  clone: number;
  imagesPerSecond?: number;
}

export interface ReportEpoch {
  epoch: number;
  total: number;
  contrastive: number;
  attention: number;
  clone: number;
  seconds?: number;
}

export interface ReportAttentionMap {
  image: string;
  teacher: number[][];
  student: number[][];
  shapes: Array<[number, number]>;
  stamped?: boolean;
}

/** An evaluation of the teacher and the student (and a reference) after the cleaning: labels and the trigger. */
export interface ReportEvaluation {
  classifier: string;
  trigger: string;
  target: number;
  trainCount?: number;
  testCount?: number;
  /** ASR's denominator, e.g. "triggered non-target test images". */
  asrOver?: string;
  rows: Array<{ model: string; file?: string; sha256?: string; cleanAccuracy: number; asr: number }>;
}

/** report.json, version 1. Everything but `version` may be missing in a partial run. */
export interface CleanReport {
  version: 1;
  config?: Record<string, unknown>;
  seed?: number;
  environment?: { node?: string; platform?: string; cpu?: string; threads?: number; engine?: Record<string, unknown>; teacher?: { schedule?: string; threads?: number; provider?: string } };
  data?: { source?: string; manifest?: ReportManifest };
  teacher?: { path?: string; sha256?: string; input?: string; features?: string; probes?: Array<{ name: string; shape?: number[] }>; otherOutputs?: string[] };
  mi?: ReportMiProbe[];
  localization?: { n?: number; lnN?: number; bandwidth?: { mode?: string; values?: number[]; scale?: string }; backend?: string; weightsFrom?: { quantity?: string; bandwidthIndex?: number } } | null;
  student?: { restoredBatchNorm?: string[]; sha256?: string };
  tool?: { name?: string; version?: string; commit?: string | null; node?: string; onnxruntime?: string | null; argv?: string[] };
  resumedFrom?: number | null;
  evalTrigger?: string | null;
  /** Added by whoever evaluated the models afterwards (the demo): CA / ASR with labels and the trigger. */
  evaluation?: ReportEvaluation;
  beta?: number[];
  losses?: ReportLoss[];
  epochs?: ReportEpoch[];
  timings?: { localize?: number; train?: number; export?: number; total?: number };
  outputs?: { student?: string; report?: string; html?: string; checkpoint?: string };
  attentionMaps?: ReportAttentionMap[];
}

const TERMS = ['total', 'contrastive', 'attention', 'clone'] as const;
const TERM_COLORS: Record<(typeof TERMS)[number], string> = {
  total: '#222222',
  contrastive: '#1f77b4',
  attention: '#d62728',
  clone: '#2ca02c',
};

const CSS = `
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d1f23;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.2rem;margin:32px 0 10px;border-bottom:1px solid #d9dce1;padding-bottom:4px}
h3{font-size:1rem;margin:18px 0 6px}
.sub{color:#5b6270;margin:0 0 16px}
.defence{background:#e9f5ec;border:1px solid #9fd3ac;border-radius:6px;padding:10px 14px;margin:14px 0}
.missing{background:#fff6e0;border:1px solid #f0cf7a;border-radius:6px;padding:10px 14px;margin:14px 0}
.note{color:#7a5d00;font-style:italic}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
.card{background:#fff;border:1px solid #dfe2e6;border-radius:6px;padding:10px 14px}
.card h3{margin-top:0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0;font-size:.9rem}
dt{color:#5b6270}dd{margin:0;word-break:break-all}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
table{border-collapse:collapse;background:#fff;font-size:.85rem;margin:6px 0}
th,td{border:1px solid #dfe2e6;padding:3px 8px;text-align:right}
th{background:#eef0f3}td.l,th.l{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{background:#fff;border:1px solid #dfe2e6;border-radius:6px}
.att{background:#fff;border:1px solid #dfe2e6;border-radius:6px;padding:10px 14px;margin:10px 0}
.att.stamped{border:2px solid #d62728}
.badge{display:inline-block;background:#d62728;color:#fff;border-radius:4px;padding:1px 7px;font-size:.8rem;margin-left:8px}
.maps{display:flex;flex-wrap:wrap;gap:14px}
.pair{text-align:center;font-size:.8rem}
.pair img{width:96px;height:96px;image-rendering:pixelated;border:1px solid #ccc;margin:2px}
details{background:#fff;border:1px solid #dfe2e6;border-radius:6px;padding:8px 14px;margin:8px 0}
summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;word-break:break-all;margin:8px 0 0}
`;

function seconds(s: unknown): string {
  if (!isNum(s)) return '–';
  if (s >= 120) return `${fmt(s / 60, 3)} min`;
  return `${fmt(s, 3)} s`;
}

function dl(rows: Array<[string, string | undefined]>): string {
  const items = rows.filter((r): r is [string, string] => r[1] !== undefined);
  if (items.length === 0) return '<p class="note">not recorded</p>';
  return `<dl>${items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function opt(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : isNum(v) ? fmt(v) : `<code>${esc(v)}</code>`;
}

function arr<T>(v: T[] | undefined | null): T[] {
  return Array.isArray(v) ? v : [];
}

function shapeText(s: unknown): string {
  return Array.isArray(s) ? s.map((d) => esc(d)).join('×') : '–';
}

function jsonPre(v: unknown, indent = 2): string {
  let text: string;
  try {
    text = JSON.stringify(v, null, indent) ?? 'undefined';
  } catch (e) {
    text = `(not serialisable: ${(e as Error).message})`;
  }
  return `<pre>${esc(text)}</pre>`;
}

function header(r: CleanReport, missing: string[]): string {
  const m = r.data?.manifest;
  const env = r.environment;
  const t = r.teacher;
  const probeNames = arr(t?.probes).map((p) => esc(p?.name));
  const selected = m?.selected ?? m?.indices?.length;
  const defence =
    `<p class="defence"><strong>Defence data:</strong> only the clean, unlabeled subset was used by the defence — ` +
    `${isNum(selected) ? fmt(selected) : 'an unknown number of'} of ${isNum(m?.count) ? fmt(m?.count) : '?'} images from ` +
    `<code>${esc(m?.source ?? r.data?.source ?? 'unknown source')}</code>` +
    `${m?.method ? ` (${esc(m.method)} selection` : ' ('}${isNum(m?.seed) ? `, seed ${fmt(m?.seed)}` : ''}), ` +
    `${m?.labels ? 'no labels were used (the source carries them; they were dropped on load)' : 'no labels were read'}. ` +
    `Any stamped (triggered) images below are for evaluation only and were never used for training.</p>`;
  const missingNote = missing.length
    ? `<div class="missing"><strong>Partial report.</strong> Not in this report: ${missing.map(esc).join('; ')}.</div>`
    : '';
  const cards = [
    [
      'Teacher',
      dl([
        ['model', opt(t?.path)],
        ['sha256', opt(t?.sha256)],
        ['input', opt(t?.input)],
        ['features', opt(t?.features)],
        ['probes', probeNames.length ? `${probeNames.length}: ${probeNames.map((n) => `<code>${n}</code>`).join(', ')}` : undefined],
      ]),
    ],
    [
      'Clean subset',
      dl([
        ['data source', opt(r.data?.source)],
        ['manifest source', opt(m?.source)],
        ['selected / count', isNum(selected) || isNum(m?.count) ? `${fmt(selected)} / ${fmt(m?.count)}` : undefined],
        ['selection', opt(m?.method)],
        ['subset seed', opt(m?.seed)],
        ['image shape', m?.shape ? shapeText(m.shape) : undefined],
        ['labels', m?.labels === undefined ? undefined : m.labels ? 'in the source, dropped on load' : 'not read'],
        ['sha256', opt(m?.sha256)],
      ]),
    ],
    [
      'Run',
      dl([
        ['tool', r.tool ? esc(`${r.tool.name ?? '?'} ${r.tool.version ?? '?'}${r.tool.commit ? ` (${r.tool.commit})` : ''}, onnxruntime ${r.tool.onnxruntime ?? '?'}`) : undefined],
        ['command', r.tool?.argv?.length ? `<code>${esc(r.tool.argv.join(' '))}</code>` : undefined],
        ['resumed', r.resumedFrom === undefined ? undefined : r.resumedFrom === null ? 'no (a run from the start)' : `from the checkpoint at step ${fmt(r.resumedFrom)}`],
        ['seed', opt(r.seed)],
        ['node', opt(env?.node)],
        ['platform', opt(env?.platform)],
        ['cpu', opt(env?.cpu)],
        ['threads', opt(env?.threads)],
        [
          'teacher run',
          env?.teacher && typeof env.teacher === 'object'
            ? esc(`${env.teacher.schedule ?? '?'} on ${env.teacher.threads ?? '?'} onnxruntime thread(s), ${env.teacher.provider ?? '?'}`)
            : undefined,
        ],
        [
          'engine',
          env?.engine && typeof env.engine === 'object'
            ? Object.entries(env.engine)
                .map(([k, v]) => `${esc(k)}: <code>${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</code>`)
                .join('<br>')
            : undefined,
        ],
      ]),
    ],
    [
      'Timings and outputs',
      dl([
        ['localize', r.timings ? seconds(r.timings.localize) : undefined],
        ['train', r.timings ? seconds(r.timings.train) : undefined],
        ['export', r.timings ? seconds(r.timings.export) : undefined],
        ['total', r.timings ? seconds(r.timings.total) : undefined],
        ['student', opt(r.outputs?.student)],
        ['student sha256', opt(r.student?.sha256)],
        ['BatchNorm restored', r.student?.restoredBatchNorm ? (r.student.restoredBatchNorm.length ? `after ${r.student.restoredBatchNorm.length} conv(s) PyTorch's export had folded it into` : 'none') : undefined],
        ['report', opt(r.outputs?.report)],
        ['checkpoint', opt(r.outputs?.checkpoint)],
      ]),
    ],
  ];
  return (
    `<h1>MIMIC cleaning report</h1>` +
    `<p class="sub">MIMIC distillation of a possibly backdoored encoder · report schema v${esc(r.version)}` +
    `${r.tool ? ` · ${esc(r.tool.name)} ${esc(r.tool.version)}${r.tool.commit ? ` (${esc(r.tool.commit.slice(0, 12))})` : ''}` : ''}` +
    `${t?.path ? ` · teacher <code>${esc(t.path)}</code>` : ''}</p>` +
    defence +
    missingNote +
    `<div class="grid">${cards.map(([h, b]) => `<div class="card"><h3>${esc(h)}</h3>${b}</div>`).join('')}</div>`
  );
}

function miSection(r: CleanReport): string {
  const mi = arr(r.mi).filter((p) => p && typeof p === 'object');
  if (mi.length === 0) return `<h2>Mutual information per probe</h2><p class="note">No MI localisation in this report.</p>`;
  const quantities: string[] = [];
  for (const p of mi) for (const [k, v] of Object.entries(p.values ?? {})) if (Array.isArray(v) && !quantities.includes(k)) quantities.push(k);
  const nbw = (q: string) => Math.max(0, ...mi.map((p) => arr(p.values?.[q]).length));
  const nS2 = Math.max(0, ...mi.map((p) => arr(p.s2).length));
  const head1 =
    `<tr><th class="l" rowspan="2">probe</th><th class="l" rowspan="2">shape</th><th rowspan="2">dim</th><th rowspan="2">scale</th>` +
    `<th colspan="${Math.max(1, nS2)}">σ² per bandwidth</th>` +
    quantities.map((q) => `<th colspan="${Math.max(1, nbw(q))}">${esc(q)} (nats)</th>`).join('') +
    `<th rowspan="2">saturation</th><th rowspan="2">β</th></tr>`;
  const head2 =
    `<tr>${Array.from({ length: Math.max(1, nS2) }, (_, i) => `<th>bw ${i + 1}</th>`).join('')}` +
    quantities.map((q) => Array.from({ length: Math.max(1, nbw(q)) }, (_, i) => `<th>bw ${i + 1}</th>`).join('')).join('') +
    `</tr>`;
  const cells = (v: number[] | undefined, n: number) =>
    Array.from({ length: Math.max(1, n) }, (_, i) => `<td>${fmt(arr(v)[i])}</td>`).join('');
  const rows = mi
    .map((p, i) => {
      const beta = isNum(p.beta) ? p.beta : arr(r.beta)[i];
      return (
        `<tr><td class="l"><code>${esc(p.name)}</code></td><td class="l">${shapeText(p.shape)}</td><td>${fmt(p.dim)}</td><td>${fmt(p.scale)}</td>` +
        cells(p.s2, nS2) +
        quantities.map((q) => cells(p.values?.[q], nbw(q))).join('') +
        `<td>${arr(p.saturation).map((s) => (isNum(s) ? `${Math.round(100 * s)}%` : fmt(s))).join(' / ') || '–'}</td><td>${fmt(beta)}</td></tr>`
      );
    })
    .join('');
  const names = mi.map((p) => String(p.name));
  // the chart shows the estimate β was computed from
  const from = r.localization?.weightsFrom?.quantity;
  const q = from && quantities.includes(from) ? from : quantities.includes('I_TZ') ? 'I_TZ' : quantities[0];
  const loc = r.localization;
  const how = loc
    ? `<p>Gaussian-kernel KDE on N = ${fmt(loc.n)} clean images (ceiling ln N = ${fmt(loc.lnN)} nats), bandwidths ${esc(loc.bandwidth?.mode ?? '?')} ` +
      `${arr(loc.bandwidth?.values).map((v) => fmt(v)).join(' / ')}${loc.bandwidth?.scale ? ` × ${esc(loc.bandwidth.scale)} (the "scale" column)` : ''}, backend ${esc(loc.backend ?? '?')}; ` +
      `β from ${esc(loc.weightsFrom?.quantity ?? '?')} at bandwidth ${isNum(loc.weightsFrom?.bandwidthIndex) ? fmt((loc.weightsFrom?.bandwidthIndex ?? 0) + 1) : '?'}. ` +
      `Saturation: the share of rows at the ln N ceiling (near 100%: the bandwidth is too small to tell the layers apart).</p>`
    : '';
  const charts: string[] = [];
  if (q)
    charts.push(
      barChart(
        names,
        Array.from({ length: nbw(q) }, (_, b) => ({ name: `${q} bw ${b + 1}`, values: mi.map((p) => arr(p.values?.[q])[b]) })),
        { title: `MI per probe (${q})`, yLabel: 'nats', width: 560, height: 300 },
      ),
    );
  const betas = arr(r.beta).length ? arr(r.beta) : mi.map((p) => p.beta);
  charts.push(barChart(names, [{ name: 'β', values: betas, color: '#9467bd' }], { title: 'Attention weight β per probe', yLabel: 'β', width: 560, height: 300 }));
  return (
    `<h2>Mutual information per probe</h2>` +
    how +
    `<table class="mi"><thead>${head1}${head2}</thead><tbody>${rows}</tbody></table>` +
    (quantities.length === 0 ? '<p class="note">No MI values recorded.</p>' : '') +
    `<div class="charts">${charts.join('')}</div>`
  );
}

function lossSection(r: CleanReport): string {
  const losses = arr(r.losses).filter((l) => l && typeof l === 'object');
  const epochs = arr(r.epochs).filter((e) => e && typeof e === 'object');
  if (losses.length === 0 && epochs.length === 0)
    return `<h2>Training losses</h2><p class="note missing">No training data yet: the report has no per-step losses and no completed epochs.</p>`;
  const out: string[] = ['<h2>Training losses</h2>'];
  if (losses.length) {
    const charts = TERMS.map((term) =>
      lineChart([{ name: `${term} (per step)`, points: losses.map((l) => [l.step, l[term]] as [number, number]), color: TERM_COLORS[term] }], {
        title: `${term} loss over steps`,
        xLabel: 'step',
        yLabel: 'loss',
        integerX: true,
        width: 560,
        height: 240,
      }),
    );
    if (losses.some((l) => isNum(l.imagesPerSecond)))
      charts.push(
        lineChart([{ name: 'images / s', points: losses.map((l) => [l.step, l.imagesPerSecond ?? NaN] as [number, number]), color: '#8c564b' }], {
          title: 'Throughput',
          xLabel: 'step',
          yLabel: 'images / s',
          integerX: true,
          width: 560,
          height: 240,
        }),
      );
    out.push(`<h3>Per step</h3><div class="charts">${charts.join('')}</div>`);
  } else out.push('<p class="note">No per-step losses recorded.</p>');
  if (epochs.length) {
    const series: LineSeries[] = TERMS.map((term) => ({
      name: term,
      points: epochs.map((e) => [e.epoch, e[term]] as [number, number]),
      color: TERM_COLORS[term],
      width: term === 'total' ? 2.4 : 1.6,
    }));
    out.push(
      `<h3>Per-epoch means</h3><div class="charts">${lineChart(series, {
        title: 'Mean loss per epoch',
        xLabel: 'epoch',
        yLabel: 'loss',
        integerX: true,
        width: 700,
        height: 300,
      })}</div>` +
        `<table class="epochs"><thead><tr><th>epoch</th>${TERMS.map((t) => `<th>${t}</th>`).join('')}<th>seconds</th></tr></thead><tbody>` +
        epochs
          .map((e) => `<tr><td>${fmt(e.epoch)}</td>${TERMS.map((t) => `<td>${fmt(e[t])}</td>`).join('')}<td>${fmt(e.seconds)}</td></tr>`)
          .join('') +
        `</tbody></table>`,
    );
  } else out.push('<p class="note">No completed epochs yet.</p>');
  return out.join('');
}

function pearson(a: number[], b: number[]): number | undefined {
  const n = Math.min(a.length, b.length);
  if (n < 2) return undefined;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  const r = sab / Math.sqrt(saa * sbb);
  return Number.isFinite(r) ? r : undefined;
}

function mapImg(values: unknown, shape: unknown, alt: string): string {
  const [h, w] = Array.isArray(shape) ? shape : [];
  if (!Array.isArray(values) || !isNum(h) || !isNum(w) || h < 1 || w < 1 || values.length !== h * w || h * w > 1 << 20)
    return `<span class="note">map unavailable (${esc(Array.isArray(values) ? values.length : 0)} values for shape ${shapeText(shape)})</span>`;
  return `<img alt="${esc(alt)}" title="${esc(alt)} (${h}×${w})" src="${heatmapDataUri(values as number[], h, w)}">`;
}

function attentionSection(r: CleanReport, probeNames: string[]): string {
  const maps = arr(r.attentionMaps).filter((a) => a && typeof a === 'object');
  if (maps.length === 0) return `<h2>Attention maps</h2><p class="note">No attention maps in this report.</p>`;
  const blocks = maps.map((a) => {
    const n = Math.max(arr(a.teacher).length, arr(a.student).length);
    const pairs = Array.from({ length: n }, (_, i) => {
      const name = probeNames[i] ?? `probe ${i + 1}`;
      const shape = arr(a.shapes)[i];
      const t = arr(a.teacher)[i];
      const s = arr(a.student)[i];
      const corr = Array.isArray(t) && Array.isArray(s) ? pearson(t, s) : undefined;
      return (
        `<div class="pair"><div><code>${esc(name)}</code></div>` +
        `${mapImg(t, shape, `teacher ${name}`)}${mapImg(s, shape, `student ${name}`)}` +
        `<div>teacher · student${corr !== undefined ? ` · r = ${fmt(corr, 3)}` : ''}</div></div>`
      );
    });
    return (
      `<div class="att${a.stamped ? ' stamped' : ''}"><h3>${esc(a.image)}` +
      `${a.stamped ? '<span class="badge">stamped (triggered) — evaluation only, not used by the defence</span>' : ''}</h3>` +
      `<div class="maps">${pairs.join('') || '<span class="note">no probes</span>'}</div></div>`
    );
  });
  const stamped = maps.filter((a) => a.stamped).length;
  return (
    `<h2>Attention maps: teacher vs student</h2>` +
    `<p>${maps.length - stamped} clean image${maps.length - stamped === 1 ? '' : 's'}` +
    `${stamped ? `, ${stamped} stamped (triggered) image${stamped === 1 ? '' : 's'} for evaluation only` : ''}. ` +
    `Each map is min-max normalised on its own; r is the Pearson correlation between the teacher and student map. ${colorbarSvg()}</p>` +
    blocks.join('')
  );
}

function missingParts(r: CleanReport): string[] {
  const miss: string[] = [];
  if (r.config === undefined) miss.push('config');
  if (r.seed === undefined) miss.push('seed');
  if (!r.environment) miss.push('environment');
  if (!r.data?.manifest) miss.push('clean-subset manifest');
  if (!r.teacher) miss.push('teacher');
  if (arr(r.mi).length === 0) miss.push('MI table');
  if (arr(r.losses).length === 0 && arr(r.epochs).length === 0) miss.push('losses (no training data yet)');
  else if (arr(r.epochs).length === 0) miss.push('completed epochs');
  if (!r.timings) miss.push('timings');
  if (!r.outputs) miss.push('output paths');
  return miss;
}

/** The report as one self-contained HTML document. */
function evaluationSection(r: CleanReport): string {
  const e = r.evaluation;
  if (!e || !Array.isArray(e.rows) || e.rows.length === 0)
    return `<h2>Evaluation</h2><p class="note">No evaluation in this report: whether a backdoor was removed is not measured here (mimic eval, with labels and a trigger, measures it).</p>`;
  const pct = (v: number) => (isNum(v) ? `${(100 * v).toFixed(1)}%` : '–');
  const rows = e.rows
    .map((x) => `<tr><td class="l">${esc(x.model)}</td><td>${pct(x.cleanAccuracy)}</td><td>${pct(x.asr)}</td><td class="l"><code>${esc(x.sha256 ? x.sha256.slice(0, 16) : '')}</code></td></tr>`)
    .join('');
  return (
    `<h2>Evaluation (after the cleaning, with labels and the trigger; not used by the defence)</h2>` +
    `<p>${esc(e.classifier)} on ${isNum(e.trainCount) ? fmt(e.trainCount) : '?'} labelled train / ${isNum(e.testCount) ? fmt(e.testCount) : '?'} test images; ` +
    `trigger <code>${esc(e.trigger)}</code> towards class ${esc(e.target)}; ASR over ${esc(e.asrOver ?? 'triggered test images')}.</p>` +
    `<table><thead><tr><th class="l">model</th><th>clean accuracy</th><th>attack success rate</th><th class="l">sha256</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}

export function renderReportHtml(report: CleanReport): string {
  const r: CleanReport = report && typeof report === 'object' ? report : ({ version: 1 } as CleanReport);
  const probeNames = arr(r.teacher?.probes).length
    ? arr(r.teacher?.probes).map((p) => String(p?.name))
    : arr(r.mi).map((p) => String(p?.name));
  const title = `MIMIC report${r.teacher?.path ? ` — ${r.teacher.path}` : ''}`;
  const body = [
    header(r, missingParts(r)),
    evaluationSection(r),
    miSection(r),
    lossSection(r),
    attentionSection(r, probeNames),
    `<h2>Configuration</h2>`,
    r.config !== undefined
      ? `<details><summary>config (JSON)</summary>${jsonPre(r.config)}</details>`
      : '<p class="note">No config recorded.</p>',
    r.data?.manifest?.indices
      ? `<details><summary>clean-subset indices (${esc(r.data.manifest.indices.length)})</summary>${jsonPre(r.data.manifest.indices, 0).replace(/,/g, ', ')}</details>`
      : '',
    r.environment?.engine ? `<details><summary>engine (JSON)</summary>${jsonPre(r.environment.engine)}</details>` : '',
  ].join('\n');
  return (
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${esc(title)}</title><style>${CSS}</style></head>\n<body><main>\n${body}\n</main></body></html>\n`
  );
}
