/** Writes report.json and report.html into a directory, each atomically (temp file in the same directory + rename). */
import { rename, rm, writeFile } from 'node:fs/promises';
import { ensureDir } from '../io/out-path.ts';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { renderReportHtml, type CleanReport } from './html.ts';

export interface ReportPaths {
  json: string;
  html: string;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, 'utf8');
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
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
