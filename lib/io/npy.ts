/** NumPy .npy files (format versions 1-3, little-endian, C order): read into typed arrays, write float32/int32. */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { MimicError } from '../errors.ts';

export type NpyDType = 'float32' | 'float64' | 'uint8' | 'int32' | 'int64';
export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  data: Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array;
}

const DESCR: Record<string, NpyDType> = {
  '<f4': 'float32',
  '<f8': 'float64',
  '|u1': 'uint8',
  '<u1': 'uint8',
  '<i4': 'int32',
  '<i8': 'int64',
};
const BYTES: Record<NpyDType, number> = { float32: 4, float64: 8, uint8: 1, int32: 4, int64: 8 };

function bad(file: string, why: string): MimicError {
  return new MimicError('E_FORMAT', `${file}: not a readable .npy file: ${why}`);
}

export function parseNpy(buf: Uint8Array, file = '<buffer>'): NpyArray {
  if (!(buf instanceof Uint8Array)) throw new MimicError('E_DTYPE', `${file}: npy bytes must be a Uint8Array (or Buffer)`);
  if (buf.length < 10 || buf[0] !== 0x93 || String.fromCharCode(...buf.subarray(1, 6)) !== 'NUMPY')
    throw bad(file, 'missing the \\x93NUMPY magic');
  const major = buf[6];
  if (major < 1 || major > 3) throw bad(file, `unsupported format version ${major}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const hstart = major === 1 ? 10 : 12;
  if (hstart + hlen > buf.length) throw bad(file, 'header is truncated');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(hstart, hstart + hlen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad(file, `malformed header ${JSON.stringify(header)}`);
  const dtype = DESCR[descr];
  if (!dtype) throw bad(file, `dtype '${descr}' is not supported (float32, float64, uint8, int32, int64 little-endian)`);
  if (fortran === 'True') throw bad(file, 'Fortran-ordered arrays are not supported: save with np.ascontiguousarray');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(n) || n < 0) throw bad(file, `bad dimension '${s}'`);
      return n;
    });
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = hstart + hlen;
  const bytes = count * BYTES[dtype];
  if (buf.length - offset < bytes)
    throw bad(file, `data is truncated: shape (${shape.join(', ')}) needs ${bytes} bytes, file has ${buf.length - offset}`);
  // Copy into a fresh, aligned buffer: typed arrays need element alignment (and a Node Buffer's slice() is a
  // view into a shared pool, so its .buffer is not ours).
  const raw = new Uint8Array(buf.subarray(offset, offset + bytes)).buffer;
  const data =
    dtype === 'float32'
      ? new Float32Array(raw)
      : dtype === 'float64'
        ? new Float64Array(raw)
        : dtype === 'uint8'
          ? new Uint8Array(raw)
          : dtype === 'int32'
            ? new Int32Array(raw)
            : new BigInt64Array(raw);
  return { dtype, shape, data };
}

export async function readNpy(file: string): Promise<NpyArray> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new MimicError('E_FILE', `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      cause: err,
    });
  }
  return parseNpy(buf, file);
}

export function encodeNpy(data: Float32Array | Int32Array | Float64Array, shape: number[]): Uint8Array {
  if (!(data instanceof Float32Array || data instanceof Int32Array || data instanceof Float64Array))
    throw new MimicError('E_DTYPE', 'npy data must be a Float32Array, Int32Array or Float64Array');
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0))
    throw new MimicError('E_INVALID_ARGUMENT', `npy shape must be non-negative integers (got ${JSON.stringify(shape)})`);
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : '<f8';
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new MimicError('E_SHAPE_MISMATCH', `shape (${shape.join(', ')}) does not match ${data.length} elements`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** Writes atomically: a temporary file in the same folder, then a rename. */
export async function writeNpy(file: string, data: Float32Array | Int32Array | Float64Array, shape: number[]): Promise<void> {
  const bytes = encodeNpy(data, shape);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new MimicError('E_FILE', `${file}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/** A 2-D float32 view (N x prod(rest)) of an array, converting float64/uint8/int32 explicitly. */
export function toMatrix(a: NpyArray, file: string): { data: Float32Array; rows: number; cols: number } {
  if (!a || typeof a !== 'object' || !Array.isArray(a.shape)) throw new MimicError('E_INVALID_ARGUMENT', `${file}: not an npy array (parseNpy / readNpy give one)`);
  if (a.shape.length < 1) throw new MimicError('E_SHAPE_MISMATCH', `${file}: a scalar cannot be a sample matrix`);
  const rows = a.shape[0];
  const cols = a.shape.slice(1).reduce((x, y) => x * y, 1);
  let data: Float32Array;
  if (a.data instanceof Float32Array) data = a.data;
  else if (a.data instanceof BigInt64Array) data = Float32Array.from(a.data, (v) => Number(v));
  else data = Float32Array.from(a.data as ArrayLike<number>);
  return { data, rows, cols };
}
