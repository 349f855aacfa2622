/** HTML report: self-contained, escaped, charts present, partial reports render, atomic writes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { renderReportHtml, type CleanReport } from '../lib/report/html.ts';
import { escapeHtml, niceTicks, lineChart } from '../lib/report/svg.ts';
import { writeReport } from '../lib/report/write.ts';

const EVIL = 'layer<&">\'1';
const SHA = 'a3f1c2d4e5b6a7980112233445566778899aabbccddeeff00112233445566778';

function mapOf(h: number, w: number, phase: number): number[] {
  const v = Array.from({ length: h * w }, (_, i) => Math.exp(-(((i % w) - w / 2 - phase) ** 2 + (Math.floor(i / w) - h / 2) ** 2) / 4));
  const s = v.reduce((a, b) => a + b, 0);
  return v.map((x) => x / s);
}

function synthetic(): CleanReport {
  const probes = [
    { name: '/layer1/Relu_output_0', shape: [1, 16, 14, 14] },
    { name: EVIL, shape: [1, 32, 7, 7] },
    { name: '/layer3/Relu_output_0', shape: [1, 64, 4, 4] },
  ];
  const losses: NonNullable<CleanReport['losses']> = [];
  const epochs: NonNullable<CleanReport['epochs']> = [];
  for (let e = 0; e < 4; ++e) {
    const rows: NonNullable<CleanReport['losses']> = [];
    for (let k = 0; k < 10; ++k) {
      const step = e * 10 + k;
      const c = 2 * Math.exp(-step / 15) + 0.05 * Math.sin(step);
      const a = 0.4 * Math.exp(-step / 20);
      const cl = 0.3 * Math.exp(-step / 10);
      rows.push({ epoch: e, step, total: c + a + cl, contrastive: c, attention: a, clone: cl, imagesPerSecond: 800 + 10 * k });
    }
    losses.push(...rows);
    const mean = (f: (r: (typeof rows)[number]) => number) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
    epochs.push({ epoch: e, total: mean((r) => r.total), contrastive: mean((r) => r.contrastive), attention: mean((r) => r.attention), clone: mean((r) => r.clone), seconds: 3.2 });
  }
  const shapes: [number, number][] = [[14, 14], [7, 7], [4, 4]];
  return {
    version: 1,
    config: { epochs: 4, batch: 64, lr: 0.001, note: '</pre><script>alert(1)</script>' },
    seed: 1234,
    environment: { node: 'v20.19.0', platform: 'linux x64', cpu: 'Test CPU @ 3GHz', threads: 16, engine: { simd: 'avx2', cuda: false }, teacher: { schedule: 'inline', threads: 16, provider: 'cpu' } },
    data: {
      source: 'fashion-mnist:/data/train-images-idx3-ubyte',
      manifest: { source: 'fashion-mnist', count: 60000, selected: 3000, seed: 7, method: 'uniform', indices: [5, 17, 42, 99], sha256: SHA, shape: [1, 28, 28], labels: true },
    },
    teacher: { path: 'test/fixtures/<teacher>.onnx', input: 'input', features: 'features', probes },
    mi: probes.map((p, i) => ({
      name: p.name,
      shape: p.shape,
      dim: p.shape[1] * p.shape[2] * p.shape[3],
      scale: 1.5,
      s2: [0.5, 1, 2],
      values: { I_TZ: [1.2 + i, 1.0 + i, 0.7 + i], I_TZ_loo: [1.1 + i, 0.9 + i, 0.6 + i] },
      saturation: [0.1, 0.05, 0],
      beta: 0.5 + 0.1 * i,
    })),
    beta: [0.5, 0.6, 0.7],
    losses,
    epochs,
    timings: { localize: 12.5, train: 130.2, export: 1.1, total: 143.8 },
    outputs: { student: '/out/student.onnx', report: '/out/report.json', checkpoint: '/out/ckpt.bin' },
    attentionMaps: [
      { image: 'clean #5', teacher: shapes.map(([h, w]) => mapOf(h, w, 0)), student: shapes.map(([h, w]) => mapOf(h, w, 0.5)), shapes },
      { image: 'clean #17', teacher: shapes.map(([h, w]) => mapOf(h, w, 1)), student: shapes.map(([h, w]) => mapOf(h, w, 1)), shapes },
      { image: 'stamped <#5>', teacher: shapes.map(([h, w]) => mapOf(h, w, 2)), student: shapes.map(([h, w]) => mapOf(h, w, 0)), shapes, stamped: true },
    ],
  };
}

function count(s: string, needle: string): number {
  return s.split(needle).length - 1;
}

test('full report: self-contained, escaped, with charts, tables and maps', () => {
  const html = renderReportHtml(synthetic());
  assert.match(html, /^<!DOCTYPE html>/);
  for (const bad of ['http://', 'https://', '<script', '<link', '@import', 'url(http']) assert.equal(html.includes(bad), false, bad);
  // Probe names appear, escaped; the raw name never does.
  assert.ok(html.includes(escapeHtml(EVIL)));
  assert.ok(html.includes('layer&lt;&amp;&quot;&gt;&#39;1'));
  assert.equal(html.includes(EVIL), false);
  assert.ok(html.includes('/layer1/Relu_output_0'));
  assert.ok(html.includes('&lt;teacher&gt;.onnx'));
  // Manifest and defence statement.
  assert.ok(html.includes(SHA));
  assert.match(html, /only the clean, unlabeled subset was used by the defence/);
  assert.match(html, /3000<\/dd>|3000 of 60000/);
  // Loss charts: 4 per-step terms + throughput + 4 epoch-mean series = 9 polylines.
  assert.equal(count(html, '<polyline'), 9);
  assert.ok(html.includes('Mean loss per epoch'));
  for (const term of ['total', 'contrastive', 'attention', 'clone']) assert.ok(html.includes(`${term} loss over steps`));
  // MI bars: 3 probes x 3 bandwidths, plus 3 beta bars.
  assert.equal(count(html, '<rect class="bar"'), 12);
  assert.ok(html.includes('I_TZ_loo (nats)'));
  // Attention maps: 3 images x 3 probes x (teacher, student) PNGs; the stamped one is marked.
  assert.equal(count(html, 'src="data:image/png;base64,'), 18);
  assert.equal(count(html, 'evaluation only, not used by the defence'), 1);
  assert.ok(html.includes('stamped &lt;#5&gt;'));
  // Config is in a collapsible block and its strings are escaped.
  assert.match(html, /<details><summary>config \(JSON\)<\/summary><pre>/);
  assert.ok(html.includes('&lt;/pre&gt;&lt;script&gt;'));
  assert.equal(html.includes('Partial report'), false);
  // How the training loop ran the teacher.
  assert.ok(html.includes('inline on 16 onnxruntime thread(s), cpu'));
});

test('heatmap PNGs decode to the map size', () => {
  const html = renderReportHtml(synthetic());
  const b64 = /src="data:image\/png;base64,([^"]+)"/.exec(html)![1];
  const png = Buffer.from(b64, 'base64');
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  assert.equal(png.readUInt32BE(16), 14); // width
  assert.equal(png.readUInt32BE(20), 14); // height
  const idatLen = png.readUInt32BE(33);
  assert.equal(png.toString('ascii', 37, 41), 'IDAT');
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  assert.equal(raw.length, 14 * (1 + 3 * 14));
});

test('partial report: no epochs, no losses, no maps still renders with notes', () => {
  const r = synthetic();
  delete r.losses;
  delete r.epochs;
  delete r.attentionMaps;
  delete r.timings;
  const html = renderReportHtml(r);
  assert.match(html, /No training data yet/i);
  assert.match(html, /Partial report/);
  assert.equal(count(html, '<polyline'), 0);
  assert.ok(html.includes('No attention maps'));
  assert.equal(count(html, '<rect class="bar"'), 12);
  // The bare minimum.
  const bare = renderReportHtml({ version: 1 });
  assert.match(bare, /No training data yet/i);
  assert.match(bare, /No MI localisation/);
  assert.equal(bare.includes('http'), false);
});

test('degenerate series: single point and constant values draw without NaN', () => {
  const r = synthetic();
  r.losses = [{ epoch: 0, step: 0, total: 1, contrastive: 1, attention: 0, clone: 0, imagesPerSecond: 100 }];
  r.epochs = [{ epoch: 0, total: 1, contrastive: 1, attention: 0, clone: 0, seconds: 1 }];
  const html = renderReportHtml(r);
  assert.equal(html.includes('NaN'), false);
  assert.equal(html.includes('Infinity'), false);
  assert.equal(count(html, '<polyline'), 9);
  const flat = lineChart([{ name: 'c', points: [[0, 2], [1, 2], [2, 2]] }], { title: 't' });
  assert.equal(flat.includes('NaN'), false);
  const long = lineChart([{ name: 'l', points: Array.from({ length: 50_001 }, (_, i) => [i, Math.sin(i)] as [number, number]) }], { title: 'long' });
  const drawn = /points="([^"]*)"/.exec(long)![1].split(' ').length;
  assert.ok(drawn <= 2001 && drawn > 1000, `drew ${drawn} points`);
  const t = niceTicks(0.0123, 0.0456);
  assert.ok(t.lo <= 0.0123 && t.hi >= 0.0456 && t.ticks.length >= 3);
});

test('writeReport writes both files atomically and leaves no temp files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mimic-report-'));
  try {
    await mkdir(join(dir, 'out'));
    await writeFile(join(dir, 'out', 'report.html'), 'old');
    const paths = await writeReport(synthetic(), join(dir, 'out'));
    const again = await writeReport(synthetic(), join(dir, 'out'));
    assert.deepEqual(again, paths);
    assert.deepEqual((await readdir(join(dir, 'out'))).sort(), ['report.html', 'report.json']);
    const json = JSON.parse(await readFile(paths.json, 'utf8'));
    assert.equal(json.version, 1);
    assert.equal(json.data.manifest.sha256, SHA);
    const html = await readFile(paths.html, 'utf8');
    assert.ok(html.startsWith('<!DOCTYPE html>') && html.trimEnd().endsWith('</html>'));
    if (process.env.MIMIC_REPORT_OUT) await writeFile(process.env.MIMIC_REPORT_OUT, html);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
