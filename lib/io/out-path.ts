/**
 * Output paths checked before the work that fills them: a long run must not train for an hour and then find that
 * its --out is a directory, unwritable, or the very model it read.
 */
import { mkdir, open, realpath, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MimicError, invalid } from '../errors.ts';

const fileError = (what: string, path: string, why: string, cause?: unknown) =>
  new MimicError('E_FILE', `${what} ${path}: ${why}`, cause === undefined ? undefined : { cause });

async function kindOf(path: string): Promise<'dir' | 'file' | 'missing'> {
  try {
    return (await stat(path)).isDirectory() ? 'dir' : 'file';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing'; // ENOTDIR: a parent is a file (found walking up)
    throw err;
  }
}

/**
 * Creates `dir` and its missing parents one level at a time. Node 20's `mkdir(..., { recursive: true })` never
 * returns on some pseudo-filesystems (a path under /proc spins forever); single-level calls fail there at once.
 * Errors are E_FILE naming `what` (the option) and the path.
 */
/** Creates `dir` and its missing parents, one level at a time; returns the folders it created, outermost first. */
export async function ensureDir(dir: string, what: string): Promise<string[]> {
  const missing: string[] = [];
  let p = resolve(dir);
  for (;;) {
    let kind: Awaited<ReturnType<typeof kindOf>>;
    try {
      kind = await kindOf(p);
    } catch (err) {
      throw fileError(what, dir, `cannot inspect ${p} (${(err as Error).message})`, err);
    }
    if (kind === 'dir') break;
    if (kind === 'file') throw fileError(what, dir, `${p} is a file, not a directory`);
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await kindOf(d)) === 'dir') continue; // made meanwhile
      throw fileError(what, dir, `cannot create ${d} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
    }
  }
  return missing;
}

/** Removes those of `dirs` that are empty, innermost first (a run refused before it wrote anything leaves no folder). */
export async function removeEmptyDirs(dirs: string[]): Promise<void> {
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await rmdir(d).catch(() => {});
}

/** Fails unless a file can be created in `dir` (read-only mounts, permissions, also as root): creates and removes a probe. */
async function assertWritableDir(dir: string, what: string): Promise<void> {
  const probe = join(dir, `.mimic-write-probe.${process.pid}.${Date.now()}`);
  try {
    const fh = await open(probe, 'wx');
    await fh.close();
  } catch (err) {
    throw fileError(what, dir, `cannot write there (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
  } finally {
    await rm(probe, { force: true });
  }
}

async function samePath(a: string, b: string): Promise<boolean> {
  const real = async (p: string) => {
    try {
      return await realpath(p);
    } catch {
      return resolve(p);
    }
  };
  return (await real(a)) === (await real(b));
}

export interface OutputCheck {
  /** The option that names the file, for messages ('--out' or 'out'). */
  what: string;
  /** Input files the output must not replace (the teacher, the encoder being attacked, a template). */
  inputs?: { path: string | undefined; what: string }[];
}

/**
 * Before a long run: `file` is not a directory, not one of the run's inputs, and its folder exists (created if
 * needed) and takes new files. The file itself is written later, atomically, by whoever produces it.
 */
export async function prepareOutputFile(file: string, check: OutputCheck): Promise<string[]> {
  const path = resolve(file);
  if ((await kindOf(path).catch(() => 'missing' as const)) === 'dir') throw fileError(check.what, file, 'is a directory; name the file to write');
  for (const input of check.inputs ?? [])
    if (typeof input.path === 'string' && (await samePath(path, input.path)))
      throw invalid(`${check.what} ${file} is the ${input.what} itself: writing there would replace it; choose another output file`);
  return prepareOutputDir(dirname(path), check.what);
}

/** Before a long run: the checkpoint / report folder exists (created if needed) and takes new files; returns the folders created. */
export async function prepareOutputDir(dir: string, what: string): Promise<string[]> {
  const made = await ensureDir(dir, what);
  await assertWritableDir(dir, what);
  return made;
}
