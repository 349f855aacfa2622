/**
 * Self-contained chart helpers for the HTML report: HTML escaping, number formatting, nice axis ticks, inline-SVG
 * line and grouped bar charts, and heatmaps encoded as data-URI PNGs (no external resources of any kind).
 */
import { zlibSync } from 'fflate';

/** Escapes text for HTML element content and double- or single-quoted attribute values (also valid in SVG). */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function isNum(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** Compact number: 4 significant digits, exponent form for very small or large magnitudes; escaped non-numbers. */
export function fmt(x: unknown, digits = 4): string {
  if (!isNum(x)) return x === undefined || x === null ? '–' : escapeHtml(String(x));
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-3) return x.toExponential(Math.max(0, digits - 1)).replace('e+', 'e');
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(digits)));
}

/** Nice ticks covering [lo, hi] (about `count` of them); a degenerate range is widened first. */
export function niceTicks(lo: number, hi: number, count = 5): { lo: number; hi: number; ticks: number[] } {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; first + i * step <= last + step * 1e-9 && i < 100; ++i) ticks.push(Number((first + i * step).toPrecision(12)));
  return { lo: first, hi: last, ticks };
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** Most points drawn per series; longer series are thinned (every k-th point, always keeping the last). */
export const MAX_POINTS = 2000;

function thin<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const k = Math.ceil(points.length / max);
  const out = points.filter((_, i) => i % k === 0);
  if ((points.length - 1) % k !== 0) out.push(points[points.length - 1]);
  return out;
}

export interface LineSeries {
  name: string;
  points: Array<[number, number]>;
  color?: string;
  width?: number;
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Force integer x ticks (steps, epochs). */
  integerX?: boolean;
}

const FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"';

function emptyChart(title: string, width: number, height: number, note: string): string {
  return (
    `<svg class="chart empty" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}" ${FONT}>` +
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="600">${escapeHtml(title)}</text>` +
    `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="12" fill="#777">${escapeHtml(note)}</text></svg>`
  );
}

/**
 * Line chart with axes, ticks, gridlines and a legend. Each series is ONE `<polyline class="series">` (non-finite
 * points dropped); a single-point series also gets a marker, a constant series a padded y range.
 */
export function lineChart(series: LineSeries[], o: ChartOptions): string {
  const width = o.width ?? 560;
  const height = o.height ?? 260;
  const clean = series
    .map((s) => ({ ...s, points: thin(s.points.filter(([x, y]) => isNum(x) && isNum(y)), MAX_POINTS) }))
    .filter((s) => s.points.length > 0);
  if (clean.length === 0) return emptyChart(o.title, width, height, 'no data');
  const xs = clean.flatMap((s) => s.points.map((p) => p[0]));
  const ys = clean.flatMap((s) => s.points.map((p) => p[1]));
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (xMax === xMin) {
    xMin -= 1;
    xMax += 1;
  }
  const yt = niceTicks(Math.min(...ys), Math.max(...ys), 5);
  let xt = niceTicks(xMin, xMax, 6);
  if (o.integerX) {
    const ticks = xt.ticks.filter((t) => Number.isInteger(t));
    xt = { ...xt, ticks: ticks.length >= 2 ? ticks : xt.ticks };
  }
  const m = { l: 62, r: 14, t: 28, b: 44 };
  const legendH = 16 * Math.ceil(clean.length / 3);
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b - legendH;
  const sx = (x: number) => m.l + ((x - xt.lo) / (xt.hi - xt.lo)) * pw;
  const sy = (y: number) => m.t + ph - ((y - yt.lo) / (yt.hi - yt.lo)) * ph;
  const r = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(
    `<svg class="chart line-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(o.title)}" ${FONT}>`,
  );
  out.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="600">${escapeHtml(o.title)}</text>`);
  for (const t of yt.ticks) {
    const y = r(sy(t));
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${y}" dy="0.32em" text-anchor="end" font-size="10" fill="#444">${fmt(t, 3)}</text>`);
  }
  for (const t of xt.ticks) {
    const x = r(sx(t));
    out.push(`<line x1="${x}" x2="${x}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#444"/>`);
    out.push(`<text x="${x}" y="${m.t + ph + 15}" text-anchor="middle" font-size="10" fill="#444">${fmt(t, 3)}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#444"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#444"/>`);
  if (o.xLabel)
    out.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 32}" text-anchor="middle" font-size="11">${escapeHtml(o.xLabel)}</text>`);
  if (o.yLabel)
    out.push(
      `<text transform="translate(13 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeHtml(o.yLabel)}</text>`,
    );
  clean.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.map(([x, y]) => `${r(sx(x))},${r(sy(y))}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="5 3"' : '';
    out.push(
      `<polyline class="series" fill="none" stroke="${color}" stroke-width="${s.width ?? 1.6}"${dash} stroke-linejoin="round" points="${pts}"><title>${escapeHtml(s.name)}</title></polyline>`,
    );
    if (s.points.length === 1 || s.points.length <= 12)
      for (const [x, y] of s.points)
        out.push(`<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="2.6" fill="${color}"><title>${escapeHtml(s.name)}: ${fmt(y)}</title></circle>`);
  });
  clean.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const lx = m.l + (i % 3) * Math.floor(pw / 3);
    const ly = height - legendH + 16 * Math.floor(i / 3) - 2;
    out.push(
      `<g class="legend"><line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>` +
        `<text x="${lx + 23}" y="${ly}" dy="0.32em" font-size="11">${escapeHtml(s.name)}</text></g>`,
    );
  });
  out.push('</svg>');
  return out.join('');
}

export interface BarSeries {
  name: string;
  values: Array<number | undefined>;
  color?: string;
}

/** Grouped bar chart: one group per category, one `<rect class="bar">` per finite value, a legend when >1 series. */
export function barChart(categories: string[], series: BarSeries[], o: ChartOptions): string {
  const width = o.width ?? 560;
  const height = o.height ?? 260;
  const vals = series.flatMap((s) => s.values.filter(isNum));
  if (categories.length === 0 || vals.length === 0) return emptyChart(o.title, width, height, 'no data');
  const yt = niceTicks(Math.min(0, ...vals), Math.max(0, ...vals), 5);
  const legend = series.length > 1;
  const legendH = legend ? 16 * Math.ceil(series.length / 3) : 0;
  const maxLabel = Math.max(...categories.map((c) => c.length));
  const rotate = maxLabel * 6.2 > (width - 76) / categories.length;
  const labelH = rotate ? Math.min(90, 6 + maxLabel * 4.6) : 18;
  const m = { l: 62, r: 14, t: 28, b: 18 + labelH };
  const pw = width - m.l - m.r;
  const ph = height - m.t - m.b - legendH;
  const sy = (y: number) => m.t + ph - ((y - yt.lo) / (yt.hi - yt.lo)) * ph;
  const r = (v: number) => v.toFixed(1);
  const gw = pw / categories.length;
  const bw = (gw * 0.8) / Math.max(1, series.length);
  const out: string[] = [];
  out.push(
    `<svg class="chart bar-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(o.title)}" ${FONT}>`,
  );
  out.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="600">${escapeHtml(o.title)}</text>`);
  for (const t of yt.ticks) {
    const y = r(sy(t));
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${y}" dy="0.32em" text-anchor="end" font-size="10" fill="#444">${fmt(t, 3)}</text>`);
  }
  const zero = sy(0);
  series.forEach((s, j) => {
    const color = s.color ?? PALETTE[j % PALETTE.length];
    s.values.forEach((v, i) => {
      if (!isNum(v) || i >= categories.length) return;
      const x = m.l + i * gw + gw * 0.1 + j * bw;
      const y0 = Math.min(zero, sy(v));
      const h = Math.max(0.5, Math.abs(sy(v) - zero));
      out.push(
        `<rect class="bar" x="${r(x)}" y="${r(y0)}" width="${r(Math.max(1, bw - 1))}" height="${r(h)}" fill="${color}"><title>${escapeHtml(categories[i])} · ${escapeHtml(s.name)}: ${fmt(v)}</title></rect>`,
      );
    });
  });
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#444"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${r(zero)}" y2="${r(zero)}" stroke="#444"/>`);
  categories.forEach((c, i) => {
    const x = m.l + (i + 0.5) * gw;
    const y = m.t + ph + 13;
    out.push(
      rotate
        ? `<text transform="translate(${r(x)} ${y - 4}) rotate(-35)" text-anchor="end" font-size="10" fill="#444">${escapeHtml(c)}</text>`
        : `<text x="${r(x)}" y="${y}" text-anchor="middle" font-size="10" fill="#444">${escapeHtml(c)}</text>`,
    );
  });
  if (o.yLabel)
    out.push(
      `<text transform="translate(13 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${escapeHtml(o.yLabel)}</text>`,
    );
  if (legend)
    series.forEach((s, i) => {
      const color = s.color ?? PALETTE[i % PALETTE.length];
      const lx = m.l + (i % 3) * Math.floor(pw / 3);
      const ly = height - legendH + 16 * Math.floor(i / 3) - 2;
      out.push(
        `<g class="legend"><rect x="${lx}" y="${ly - 5}" width="12" height="10" fill="${color}"/>` +
          `<text x="${lx + 17}" y="${ly}" dy="0.32em" font-size="11">${escapeHtml(s.name)}</text></g>`,
      );
    });
  out.push('</svg>');
  return out.join('');
}

// ---------------------------------------------------------------------------------------------------------------
// Heatmaps as PNG data URIs (RGB, 8-bit, zlib via fflate), viridis-like colour map.

const VIRIDIS: Array<[number, number, number]> = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 74, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [109, 205, 89],
  [180, 222, 44],
  [253, 231, 37],
];

export function colormap(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(0, isNum(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const a = VIRIDIS[i];
  const b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k]))) as [number, number, number];
}

let crcTable: Uint32Array | undefined;
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; ++n) {
      let c = n;
      for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; ++i) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes an RGB image (h*w*3 bytes) as a PNG file. */
export function encodePngRgb(rgb: Uint8Array, h: number, w: number): Uint8Array {
  const raw = new Uint8Array(h * (1 + 3 * w));
  for (let y = 0; y < h; ++y) {
    raw[y * (1 + 3 * w)] = 0; // filter: none
    raw.set(rgb.subarray(y * 3 * w, (y + 1) * 3 * w), y * (1 + 3 * w) + 1);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, w);
  dv.setUint32(4, h);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, RGB, deflate, no filter, no interlace
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A map of h*w values, min-max scaled (a constant map shows as 0), as a `data:image/png;base64,...` URI. */
export function heatmapDataUri(values: ArrayLike<number>, h: number, w: number): string {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < h * w; ++i) {
    const v = values[i];
    if (isNum(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const span = hi > lo ? hi - lo : 1;
  const rgb = new Uint8Array(h * w * 3);
  for (let i = 0; i < h * w; ++i) {
    const v = values[i];
    rgb.set(colormap(isNum(v) && isNum(lo) ? (v - lo) / span : 0), 3 * i);
  }
  return `data:image/png;base64,${Buffer.from(encodePngRgb(rgb, h, w)).toString('base64')}`;
}

/** Colour-bar legend for the heatmaps, as inline SVG. */
export function colorbarSvg(width = 160, height = 12): string {
  const stops = VIRIDIS.map((c, i) => `<stop offset="${(i / (VIRIDIS.length - 1)).toFixed(3)}" stop-color="rgb(${c.join(',')})"/>`).join('');
  return (
    `<svg class="colorbar" width="${width + 70}" height="${height}" viewBox="0 0 ${width + 70} ${height}" ${FONT}>` +
    `<defs><linearGradient id="cbar">${stops}</linearGradient></defs>` +
    `<text x="0" y="${height - 2}" font-size="10">low</text><rect x="26" y="0" width="${width}" height="${height}" fill="url(#cbar)"/>` +
    `<text x="${width + 30}" y="${height - 2}" font-size="10">high</text></svg>`
  );
}
