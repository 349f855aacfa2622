/**
 * Writing files so that a reader never sees half of one and a failure loses nothing: the bytes go to a temporary
 * file beside the target (every byte: a full disk makes write(2) return short counts, not errors), are synced, their
 * size checked, and only then renamed over the target. A failure removes the temporary file and is an E_FILE naming
 * the target. Temporary names carry the writer's pid, so sweepStaleTemps can remove those a killed process left.
 */
import { createHash } from 'node:crypto';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MimicError } from '../errors.ts';

/** Writes every byte of `chunk` (a full disk shows as a short count: retried until an error says why, or no progress). */
export async function writeAll(fh: Pick<Awaited<ReturnType<typeof open>>, 'write'>, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.byteLength) {
    const { bytesWritten } = await fh.write(chunk, done, chunk.byteLength - done);
    if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device (a write made no progress)'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}

/**
 * Writes `chunks` to `file` atomically; returns the SHA-256 of the bytes when `hash` is set. `what` names the file
 * in errors ("the checkpoint", "the report").
 */
export async function writeFileAtomic(file: string, chunks: Iterable<Uint8Array>, what: string, options: { hash?: boolean } = {}): Promise<string | undefined> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.tmp`);
  const h = options.hash ? createHash('sha256') : undefined;
  let expected = 0;
  try {
    const fh = await open(tmp, 'w');
    try {
      for (const c of chunks) {
        await writeAll(fh, c);
        h?.update(c);
        expected += c.byteLength;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    const size = (await stat(tmp)).size;
    if (size !== expected) throw new Error(`${size} bytes on disk, ${expected} written`);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    const why = (err as Error).message;
    throw new MimicError('E_FILE', `${file}: could not write ${what} (${code && !why.startsWith(code) ? `${code}: ` : ''}${why}); the previous file, if any, is unchanged`, { cause: err });
  }
  return h?.digest('hex');
}

/** Removes temporary files in `dir` that a process no longer running left behind (killed mid-write). */
export async function sweepStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^\..+\.(\d+)\.[0-9a-z]+\.tmp$/.exec(n);
    if (m && !alive(Number(m[1]))) await rm(join(dir, n), { force: true });
  }
}

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
