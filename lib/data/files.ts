/** File helpers shared by the dataset readers: typed E_FILE errors, transparent gzip. */
import { readFile, readdir, stat } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { MimicError } from '../errors.ts';

const gunzipAsync = promisify(gunzip);

function fileError(file: string, err: unknown, what = 'cannot read'): MimicError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EISDIR' ? 'is a directory' : code ?? (err as Error)?.message;
  return new MimicError('E_FILE', `${file}: ${what} (${why})`, { cause: err });
}

export async function readBytes(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw fileError(file, err);
  }
}

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Reads a file, gunzipping it (off the main thread) when it starts with the gzip magic, whatever its name. */
export async function readMaybeGzip(file: string): Promise<Buffer> {
  const buf = await readBytes(file);
  if (!isGzip(buf)) return buf;
  try {
    return await gunzipAsync(buf);
  } catch (err) {
    throw new MimicError('E_FORMAT', `${file}: starts like a gzip file but does not decompress (${(err as Error).message})`, { cause: err });
  }
}

export async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    throw fileError(dir, err, 'cannot list the folder');
  }
}

export type PathKind = 'file' | 'dir';
export async function pathKind(path: string): Promise<PathKind> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : 'file';
  } catch (err) {
    throw fileError(path, err, 'cannot open');
  }
}

export async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    throw fileError(path, err, 'cannot open');
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Byte-order (code point) comparison: the order of Python's sorted() and of `LC_ALL=C ls`, locale-free. */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
