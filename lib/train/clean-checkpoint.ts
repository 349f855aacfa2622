/**
 * The checkpoint of `clean` and `pretrain`: one file, `checkpoint.bin`, written atomically (io/atomic.ts: every byte,
 * fsync, size check, rename). Layout: 8 bytes magic 'MIMICKP2', a uint32 LE header length, the UTF-8 JSON header,
 * zero padding to a multiple of 4, the float32 tensors back to back (little-endian; the header lists each tensor's
 * name, offset in floats from the start of the data, and length), then the SHA-256 of everything before it: a
 * flipped bit anywhere is refused on resume. 'MIMICKP1' files (no digest, from earlier versions) are still read.
 * The checkpoint folder holds a lock file while a run uses it: a second run on the same output is refused.
 */
import { createHash } from 'node:crypto';
import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { alive, sweepStaleTemps, writeFileAtomic } from '../io/atomic.ts';
import { ensureDir, removeEmptyDirs } from '../io/out-path.ts';
import { dirname, join, resolve } from 'node:path';
import { MimicError, invalid } from '../errors.ts';

const MAGIC = 'MIMICKP2';
const MAGIC_V1 = 'MIMICKP1';
const DIGEST = 32;
const LOCK_FILE = '.lock';
const heldHere = new Set<string>(); // checkpoint folders this process's runs hold (the lock file names the pid only)
export const CHECKPOINT_FILE = 'checkpoint.bin';

export interface CheckpointTensors {
  [name: string]: Float32Array;
}

interface Header {
  meta: unknown;
  tensors: { name: string; offset: number; length: number }[];
}

export async function writeCheckpoint(dir: string, meta: unknown, tensors: CheckpointTensors): Promise<string> {
  await ensureDir(dir, 'checkpoint folder');
  const file = join(dir, CHECKPOINT_FILE);
  const index: Header['tensors'] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    index.push({ name, offset, length: t.length });
    offset += t.length;
  }
  const header = Buffer.from(JSON.stringify({ meta, tensors: index } satisfies Header), 'utf8');
  const pad = (4 - ((12 + header.length) % 4)) % 4;
  const head = Buffer.alloc(12 + header.length + pad);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(header.length, 8);
  header.copy(head, 12);
  function* parts(): Generator<Uint8Array> {
    const h = createHash('sha256');
    for (const c of [head, ...Object.values(tensors).map((t) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength))]) {
      h.update(c);
      yield c;
    }
    yield h.digest();
  }
  await writeFileAtomic(file, parts(), 'the checkpoint');
  return file;
}

/** The checkpoint's metadata only (no tensors), or null when `dir` holds no readable checkpoint. */
export async function readCheckpointMeta<M>(dir: string): Promise<{ meta: M; file: string } | null> {
  const file = join(dir, CHECKPOINT_FILE);
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return null;
  }
  try {
    const head = Buffer.alloc(12);
    if ((await fh.read(head, 0, 12, 0)).bytesRead < 12) return null;
    const magic = head.toString('latin1', 0, 8);
    if (magic !== MAGIC && magic !== MAGIC_V1) return null;
    const hlen = head.readUInt32LE(8);
    const header = Buffer.alloc(hlen);
    if ((await fh.read(header, 0, hlen, 12)).bytesRead < hlen) return null;
    return { meta: (JSON.parse(header.toString('utf8')) as Header).meta as M, file };
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

/** What a run holds until it ends: the output folders it created, its claim on the checkpoint folder. */
export interface RunHold {
  made: string[];
  claim?: CheckpointClaim;
}

/**
 * Runs `body` (clean, pretrain) and, however it ends, releases its claim; a run that fails also removes the output
 * folders it created while they are empty (refused before writing anything: a model or data error).
 */
export async function holdingRun<T>(body: (run: RunHold) => Promise<T>): Promise<T> {
  const run: RunHold = { made: [] };
  try {
    return await body(run);
  } catch (err) {
    await run.claim?.release(); // first: its lock file keeps the checkpoint folder from being empty
    await removeEmptyDirs(run.made);
    throw err;
  } finally {
    await run.claim?.release();
  }
}

/** What a run holds on its checkpoint folder: the lock, and (restart) the old checkpoint's removal. */
export interface CheckpointClaim {
  /** With restart: removes the old checkpoint (call once the run's inputs are checked, before its work starts). */
  dropOld(): Promise<void>;
  /** Releases the lock (the run ended, however). */
  release(): Promise<void>;
}

/**
 * Before a run writes checkpoints into `dir`. A run still using the folder (its lock file names a live process) is
 * refused: two runs would overwrite each other's checkpoints and outputs. Without resume or restart, an unfinished
 * run saved there is refused (starting over would overwrite its progress); with restart, its checkpoint is removed
 * by dropOld() once the new run's inputs are checked (a mistyped restart loses nothing). `unfinished` describes a
 * saved run that has not finished ("epoch 3 + 2 steps of 30"), or returns null for a finished one. Temporary files
 * that killed runs left are removed.
 */
export async function claimCheckpointDir<M>(dir: string, mode: { resume?: boolean; restart?: boolean }, unfinished: (meta: M) => string | null): Promise<CheckpointClaim> {
  if (mode.resume && mode.restart) throw invalid('resume and restart exclude each other (--resume, --restart)');
  if (!mode.resume && !mode.restart) {
    const prev = await readCheckpointMeta<M>(dir);
    const where = prev && unfinished(prev.meta);
    if (where) throw invalid(`${prev.file} holds an unfinished run (${where}): continue it with resume (--resume), or start over with restart (--restart)`);
  }
  await ensureDir(dir, 'checkpoint folder');
  const key = resolve(dir);
  if (heldHere.has(key)) throw new MimicError('E_FILE', `${dir} is in use by another run in this process: wait for it, or give this run another output`);
  const lock = join(dir, LOCK_FILE);
  for (;;) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new MimicError('E_FILE', `${lock}: cannot take the lock (${(err as Error).message})`, { cause: err });
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (alive(holder) && holder !== process.pid)
        throw new MimicError('E_FILE', `${dir} is in use by another run (process ${holder}): wait for it, or give this run another output (if process ${holder} is no mimic run, remove ${lock})`);
      await rm(lock, { force: true }); // left by a run that was killed: take it over
    }
  }
  heldHere.add(key);
  await sweepStaleTemps(dir);
  await sweepStaleTemps(dirname(dir)); // the report's and the outputs' folder
  let released = false;
  return {
    dropOld: async () => {
      if (mode.restart) await rm(join(dir, CHECKPOINT_FILE), { force: true });
    },
    release: async () => {
      if (released) return;
      released = true;
      heldHere.delete(key);
      await rm(lock, { force: true });
    },
  };
}

export async function readCheckpoint<M>(dir: string): Promise<{ meta: M; tensors: CheckpointTensors; file: string }> {
  const file = join(dir, CHECKPOINT_FILE);
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new MimicError('E_FILE', `${file}: no checkpoint to resume from (${(err as Error).message})`, { cause: err });
  }
  const magic = buf.length >= 12 ? buf.toString('latin1', 0, 8) : '';
  if (magic !== MAGIC && magic !== MAGIC_V1) throw new MimicError('E_FORMAT', `${file}: not a mimic checkpoint`);
  if (magic === MAGIC) {
    if (buf.length < 12 + DIGEST) throw new MimicError('E_FORMAT', `${file}: truncated`);
    const body = buf.subarray(0, buf.length - DIGEST);
    if (!createHash('sha256').update(body).digest().equals(buf.subarray(buf.length - DIGEST)))
      throw new MimicError('E_FORMAT', `${file}: the checkpoint is corrupt (its SHA-256 does not match: truncated, or bits changed on disk); it cannot be resumed: start over with restart (--restart)`);
    buf = body;
  }
  const hlen = buf.readUInt32LE(8);
  if (12 + hlen > buf.length) throw new MimicError('E_FORMAT', `${file}: truncated header`);
  let header: Header;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + hlen));
  } catch (err) {
    throw new MimicError('E_FORMAT', `${file}: corrupt header`, { cause: err });
  }
  const start = 12 + hlen + ((4 - ((12 + hlen) % 4)) % 4);
  const total = header.tensors.reduce((s, t) => s + t.length, 0);
  if (start + 4 * total !== buf.length) throw new MimicError('E_FORMAT', `${file}: ${buf.length} bytes, expected ${start + 4 * total} (truncated?)`);
  const data = new Float32Array(total);
  new Uint8Array(data.buffer).set(buf.subarray(start));
  const tensors: CheckpointTensors = {};
  for (const t of header.tensors) tensors[t.name] = data.slice(t.offset, t.offset + t.length);
  return { meta: header.meta as M, tensors, file };
}
