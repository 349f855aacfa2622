/**
 * What a report needs to say which tool made it: the package version, the git commit of a checkout (null for an
 * installed package), Node and onnxruntime versions; and the SHA-256 of the files that went in and came out.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface ToolInfo {
  name: string;
  version: string;
  /** The git commit of the checkout the tool ran from (with "+dirty" when it had local changes), or null. */
  commit: string | null;
  node: string;
  onnxruntime: string | null;
}

const ROOT = join(import.meta.dirname, '..', '..');
let cached: ToolInfo | undefined;

export function toolInfo(): ToolInfo {
  if (cached) return cached;
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  let onnxruntime: string | null = null;
  try {
    const require = createRequire(join(ROOT, 'package.json'));
    onnxruntime = (JSON.parse(readFileSync(require.resolve('onnxruntime-node/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    /* not resolvable: leave null */
  }
  cached = { name: pkg.name, version: pkg.version, commit: gitCommit(), node: process.version, onnxruntime };
  return cached;
}

function gitCommit(): string | null {
  if (!existsSync(join(ROOT, '.git'))) return null;
  try {
    const git = (args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git(['rev-parse', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--untracked-files=no']).length > 0;
    return dirty ? `${head}+dirty` : head;
  } catch {
    return null; // no git on PATH, or not a repository after all
  }
}

/** SHA-256 (hex) of a file's bytes. */
export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}
