/**
 * Checks run by the loader on every model before anything else sees it: structure (empty graph, dangling node
 * inputs, duplicate tensor names, cycles), sane dims and data sizes, and external data that stays inside the
 * model's folder (it is read and inlined, so the in-memory model is self-contained).
 */
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { MimicError } from '../errors.ts';
import { indexGraph, nodeInputs, nodeLabel, topoOrderIndices } from './graph.ts';
import { DataType, elemSize, elemTypeName, toNum, type GraphProto, type ModelProto, type OnnxTypes } from './proto.ts';

/** Largest single dimension accepted (in initializers, inputs, outputs and value infos). */
export const MAX_DIM = 2 ** 31 - 1;
/** Largest element count of one tensor (known dims only). */
export const MAX_ELEMENTS = 2 ** 32;
/** Largest rank accepted. */
export const MAX_RANK = 32;

type ITensor = OnnxTypes.ITensorProto;
type IValueInfo = OnnxTypes.IValueInfoProto;

export interface CheckOptions {
  /** what messages call the model (a file name, or '<bytes>') */
  source?: string;
}

function where(source: string | undefined): string {
  return source ? `${source}: ` : '';
}

/** Element count of an initializer from its dims, checking each dim (>= 0, <= MAX_DIM) and the total. */
export function tensorElements(t: ITensor, what: string): number {
  const dims = t.dims ?? [];
  if (dims.length > MAX_RANK) throw new MimicError('E_ONNX', `${what} has rank ${dims.length} (at most ${MAX_RANK} accepted)`);
  let n = 1;
  for (let k = 0; k < dims.length; ++k) {
    const d = toNum(dims[k] as number);
    if (!Number.isInteger(d) || d < 0 || d > MAX_DIM) {
      throw new MimicError('E_ONNX', `${what} has an invalid dim ${k}: ${d} (dims [${dims.map((x) => toNum(x as number)).join(', ')}])`);
    }
    n *= d;
  }
  if (n > MAX_ELEMENTS) throw new MimicError('E_ONNX', `${what} is absurdly large: ${n} elements (dims [${dims.map((x) => toNum(x as number)).join(', ')}])`);
  return n;
}

function isExternal(t: ITensor): boolean {
  return t.dataLocation === 1; // onnx.TensorProto.DataLocation.EXTERNAL
}

/** Checks that a tensor's embedded data matches its dims and type. */
function checkTensorData(t: ITensor, what: string): void {
  const type = t.dataType ?? 0;
  const size = elemSize(type);
  if (type === DataType.UNDEFINED || (size === 0 && type !== DataType.STRING)) {
    throw new MimicError('E_ONNX', `${what} has an unsupported element type ${elemTypeName(type)}`);
  }
  const n = tensorElements(t, what);
  if (isExternal(t)) return; // checked when the external data is read
  const raw = t.rawData?.length ?? 0;
  if (raw > 0) {
    if (type === DataType.STRING) throw new MimicError('E_ONNX', `${what} is a STRING tensor with raw data`);
    if (raw !== n * size) {
      throw new MimicError('E_ONNX', `${what} has ${raw} bytes of raw data, but its dims and type ${elemTypeName(type)} need ${n * size}`);
    }
    return;
  }
  let count: number;
  let field: string;
  switch (type) {
    case DataType.FLOAT: count = t.floatData?.length ?? 0; field = 'float_data'; break;
    case DataType.COMPLEX64: count = (t.floatData?.length ?? 0) / 2; field = 'float_data'; break;
    case DataType.DOUBLE: count = t.doubleData?.length ?? 0; field = 'double_data'; break;
    case DataType.COMPLEX128: count = (t.doubleData?.length ?? 0) / 2; field = 'double_data'; break;
    case DataType.INT64: count = t.int64Data?.length ?? 0; field = 'int64_data'; break;
    case DataType.UINT32: case DataType.UINT64: count = t.uint64Data?.length ?? 0; field = 'uint64_data'; break;
    case DataType.STRING: count = t.stringData?.length ?? 0; field = 'string_data'; break;
    default: count = t.int32Data?.length ?? 0; field = 'int32_data';
  }
  if (count !== n) {
    throw new MimicError('E_ONNX', `${what} has ${count} values in ${field}, but its dims need ${n}`);
  }
}

/** Checks the dims of a graph input / output / value info: integers in [-1, MAX_DIM] (-1 = unknown) or names. */
function checkValueInfo(v: IValueInfo, kind: string, source?: string): void {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim ?? [];
  const what = `${where(source)}${kind} '${v.name ?? ''}'`;
  if (dims.length > MAX_RANK) throw new MimicError('E_ONNX', `${what} has rank ${dims.length} (at most ${MAX_RANK} accepted)`);
  let n = 1;
  for (let k = 0; k < dims.length; ++k) {
    const d = dims[k] as OnnxTypes.TensorShapeProto.Dimension;
    if (d.dimParam || d.dimValue == null) continue; // symbolic or unknown
    const x = toNum(d.dimValue);
    if (x === -1) continue;
    if (!Number.isInteger(x) || x < 0 || x > MAX_DIM) {
      throw new MimicError('E_ONNX', `${what} has an invalid dim ${k}: ${x}`);
    }
    n *= x;
  }
  if (n > MAX_ELEMENTS) throw new MimicError('E_ONNX', `${what} is absurdly large: ${n} elements`);
}

/**
 * Structural and size checks (synchronous, no file access). Throws E_ONNX naming the node / tensor concerned.
 * External data locations are checked lexically here (absolute, `..`); the files are checked by inlineExternalData.
 */
export function checkModel(model: ModelProto, options: CheckOptions = {}): void {
  const src = where(options.source);
  const graph = model.graph as GraphProto | null;
  if (!graph) throw new MimicError('E_ONNX', `${src}the model has no graph`);
  const nodes = graph.node ?? [];
  if (nodes.length === 0) throw new MimicError('E_ONNX', `${src}graph '${graph.name ?? ''}' is empty (no nodes)`);
  if ((graph.output ?? []).length === 0) throw new MimicError('E_ONNX', `${src}graph '${graph.name ?? ''}' has no outputs`);

  // initializers: unique names, sane dims, data consistent with dims, external locations
  const defined = new Map<string, string>(); // tensor -> what defines it
  for (const t of graph.initializer ?? []) {
    const what = `${src}initializer '${t.name ?? ''}'`;
    if (!t.name) throw new MimicError('E_ONNX', `${what} has no name`);
    if (defined.has(t.name)) throw new MimicError('E_ONNX', `${src}initializer '${t.name}' is defined twice`);
    defined.set(t.name, 'an initializer');
    checkTensorData(t, what);
    if (isExternal(t)) externalLocation(t, what);
  }
  for (const s of graph.sparseInitializer ?? []) {
    const name = s.values?.name;
    if (name) defined.set(name, 'a sparse initializer');
  }
  const inputNames = new Set<string>();
  for (const v of graph.input ?? []) {
    if (!v.name) throw new MimicError('E_ONNX', `${src}a graph input has no name`);
    if (inputNames.has(v.name)) throw new MimicError('E_ONNX', `${src}graph input '${v.name}' is declared twice`);
    inputNames.add(v.name);
    checkValueInfo(v, 'graph input', options.source);
    if (!defined.has(v.name)) defined.set(v.name, 'a graph input');
  }
  for (const v of graph.output ?? []) checkValueInfo(v, 'graph output', options.source);
  for (const v of graph.valueInfo ?? []) checkValueInfo(v, 'value info', options.source);

  // nodes: an op type, unique output names, attribute tensors with sane sizes
  for (let i = 0; i < nodes.length; ++i) {
    const node = nodes[i];
    const label = `${src}${nodeLabel(node, i)}`;
    if (!node.opType) throw new MimicError('E_ONNX', `${label} has no op type`);
    for (const o of node.output ?? []) {
      if (!o) continue;
      const prev = defined.get(o);
      if (prev) throw new MimicError('E_ONNX', `${label} writes tensor '${o}', which is already ${prev}`);
      defined.set(o, `the output of ${nodeLabel(node, i)}`);
    }
    for (const a of node.attribute ?? []) {
      if (a.t) checkTensorData(a.t, `${label}, attribute '${a.name ?? ''}'`);
      for (const t of a.tensors ?? []) checkTensorData(t, `${label}, attribute '${a.name ?? ''}'`);
      if (a.t && isExternal(a.t)) throw new MimicError('E_ONNX', `${label}, attribute '${a.name ?? ''}': external data in attributes is not supported`);
    }
  }
  // every input provided
  for (let i = 0; i < nodes.length; ++i) {
    for (const t of nodeInputs(nodes[i])) {
      if (!defined.has(t)) {
        throw new MimicError('E_ONNX', `${src}${nodeLabel(nodes[i], i)} reads tensor '${t}', which no node, initializer or graph input provides`);
      }
    }
  }
  for (const v of graph.output ?? []) {
    if (!v.name || !defined.has(v.name)) throw new MimicError('E_ONNX', `${src}graph output '${v.name ?? ''}' is not produced by any node, initializer or input`);
  }
  // no cycles
  try {
    topoOrderIndices(graph, indexGraph(graph));
  } catch (e) {
    if (e instanceof MimicError) throw new MimicError(e.code, `${src}${e.message}`);
    throw e;
  }
}

/** The external data fields of a tensor, with its location checked lexically. */
function externalLocation(t: ITensor, what: string): { location: string; offset: number; length: number | undefined } {
  const entries = new Map<string, string>();
  for (const e of t.externalData ?? []) if (e.key) entries.set(e.key, e.value ?? '');
  const location = entries.get('location');
  if (!location) throw new MimicError('E_ONNX', `${what} is stored externally but has no location`);
  if (location.includes('\0')) throw new MimicError('E_ONNX', `${what}: external data location '${location.replace(/\0/g, '\\0')}' contains a NUL byte`);
  const slashed = location.replace(/\\/g, '/');
  if (path.isAbsolute(location) || path.posix.isAbsolute(slashed) || /^[A-Za-z]:/.test(location)) {
    throw new MimicError('E_ONNX', `${what}: external data location '${location}' is absolute (it must be relative to the model's folder)`);
  }
  const norm = path.posix.normalize(slashed);
  if (norm === '..' || norm.startsWith('../')) {
    throw new MimicError('E_ONNX', `${what}: external data location '${location}' escapes the model's folder`);
  }
  const num = (key: string): number | undefined => {
    const v = entries.get(key);
    if (v === undefined || v === '') return undefined;
    if (!/^\d{1,15}$/.test(v)) throw new MimicError('E_ONNX', `${what}: external data ${key} '${v}' is not a non-negative integer`);
    return Number(v);
  };
  return { location: norm, offset: num('offset') ?? 0, length: num('length') };
}

export interface ExternalOptions extends CheckOptions {
  /** the folder external data locations are relative to (the model file's folder) */
  baseDir?: string;
}

/**
 * Reads every initializer stored as external data into its raw_data (checking the path stays inside baseDir,
 * symlinks included, and that the file holds the bytes the tensor needs). Returns how many were inlined.
 * Call after checkModel.
 */
export async function inlineExternalData(model: ModelProto, options: ExternalOptions = {}): Promise<number> {
  const src = where(options.source);
  const external = (model.graph?.initializer ?? []).filter(isExternal);
  if (external.length === 0) return 0;
  if (!options.baseDir) {
    const t = external[0];
    throw new MimicError('E_ONNX', `${src}initializer '${t.name}' uses external data, but the model was given as bytes: load it from its file (or pass baseDir)`);
  }
  let base: string;
  try {
    base = await realpath(options.baseDir);
  } catch (e) {
    throw new MimicError('E_FILE', `${src}model folder '${options.baseDir}' cannot be read: ${(e as Error).message}`, { cause: e });
  }
  for (const t of external) {
    const what = `${src}initializer '${t.name}'`;
    const { location, offset, length } = externalLocation(t, what);
    const n = tensorElements(t, what);
    const need = n * elemSize(t.dataType ?? 0);
    if (length !== undefined && length !== need) {
      throw new MimicError('E_ONNX', `${what}: external data length ${length} does not match its dims and type (${need} bytes)`);
    }
    const full = path.resolve(base, location);
    let real: string;
    try {
      real = await realpath(full);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new MimicError('E_FILE', `${what}: external data file '${location}' ${code === 'ENOENT' ? 'does not exist' : 'cannot be read'} (${full})`, { cause: e });
    }
    if (real !== base && !real.startsWith(base.endsWith(path.sep) ? base : base + path.sep)) {
      throw new MimicError('E_ONNX', `${what}: external data location '${location}' resolves to '${real}', outside the model's folder`);
    }
    let fh;
    try {
      fh = await open(real, 'r');
    } catch (e) {
      throw new MimicError('E_FILE', `${what}: external data file '${location}' cannot be opened: ${(e as Error).message}`, { cause: e });
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new MimicError('E_FILE', `${what}: external data location '${location}' is not a regular file`);
      if (offset + need > st.size) {
        throw new MimicError('E_FORMAT', `${what}: external data file '${location}' is truncated: the tensor needs bytes ${offset}..${offset + need}, the file has ${st.size}`);
      }
      const buf = Buffer.alloc(need);
      let got = 0;
      while (got < need) {
        const { bytesRead } = await fh.read(buf, got, need - got, offset + got);
        if (bytesRead === 0) throw new MimicError('E_FORMAT', `${what}: external data file '${location}' ended early (read ${got} of ${need} bytes at offset ${offset})`);
        got += bytesRead;
      }
      t.rawData = new Uint8Array(buf.buffer, buf.byteOffset, need);
      t.externalData = [];
      t.dataLocation = 0;
    } finally {
      await fh.close();
    }
  }
  return external.length;
}
