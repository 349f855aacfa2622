/**
 * The `clean` loop's checkpoint: one file, `checkpoint.bin`, written atomically (temp file in the same folder,
 * fsync, rename). Layout: 8 bytes magic 'MIMICKP1', a uint32 LE header length, the UTF-8 JSON header, zero
 * padding to a multiple of 4, then the float32 tensors back to back (little-endian); the header lists each
 * tensor's name, offset (in floats from the start of the data) and length.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { ensureDir } from '../io/out-path.ts';
import { join } from 'node:path';
import { MimicError, invalid } from '../errors.ts';

const MAGIC = 'MIMICKP1';
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
  const tmp = join(dir, `.${CHECKPOINT_FILE}.${process.pid}.${Date.now()}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.write(head);
    for (const t of Object.values(tensors)) await fh.write(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw new MimicError('E_FILE', `${file}: could not write the checkpoint: ${(err as Error).message}`, { cause: err });
  }
  await fh.close();
  await rename(tmp, file);
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
    if ((await fh.read(head, 0, 12, 0)).bytesRead < 12 || head.toString('latin1', 0, 8) !== MAGIC) return null;
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

/**
 * Before a run writes checkpoints into `dir`. Without resume or restart, an unfinished run saved there is refused
 * (starting over would overwrite its progress); with restart, its checkpoint is removed first, so that a restarted
 * run stopped before its own first checkpoint leaves nothing of the old one to resume by mistake. `unfinished`
 * describes a saved run that has not finished ("epoch 3 + 2 steps of 30"), or returns null for a finished one.
 */
export async function claimCheckpointDir<M>(dir: string, mode: { resume?: boolean; restart?: boolean }, unfinished: (meta: M) => string | null): Promise<void> {
  if (mode.resume && mode.restart) throw invalid('resume and restart exclude each other (--resume, --restart)');
  if (mode.resume) return;
  if (mode.restart) {
    await rm(join(dir, CHECKPOINT_FILE), { force: true });
    return;
  }
  const prev = await readCheckpointMeta<M>(dir);
  const where = prev && unfinished(prev.meta);
  if (where) throw invalid(`${prev.file} holds an unfinished run (${where}): continue it with resume (--resume), or start over with restart (--restart)`);
}

export async function readCheckpoint<M>(dir: string): Promise<{ meta: M; tensors: CheckpointTensors; file: string }> {
  const file = join(dir, CHECKPOINT_FILE);
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new MimicError('E_FILE', `${file}: no checkpoint to resume from (${(err as Error).message})`, { cause: err });
  }
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw new MimicError('E_FORMAT', `${file}: not a mimic checkpoint`);
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
