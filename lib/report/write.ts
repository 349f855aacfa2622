/** Writes report.json and report.html into a directory, each atomically (temp file in the same directory + rename). */
import { writeFileAtomic } from '../io/atomic.ts';
import { ensureDir } from '../io/out-path.ts';
import { join } from 'node:path';
import { renderReportHtml, type CleanReport } from './html.ts';

export interface ReportPaths {
  json: string;
  html: string;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, [Buffer.from(text, 'utf8')], 'the report');
}

/**
 * Renders and writes `dir/report.json` (pretty JSON) and `dir/report.html` (self-contained). Both texts are built
 * before anything is written, so a rendering error leaves the previous files untouched; readers never see a
 * half-written file.
 */
export async function writeReport(report: CleanReport, dir: string): Promise<ReportPaths> {
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const html = renderReportHtml(report);
  await ensureDir(dir, 'report folder');
  const paths = { json: join(dir, 'report.json'), html: join(dir, 'report.html') };
  await writeAtomic(paths.json, json);
  await writeAtomic(paths.html, html);
  return paths;
}
