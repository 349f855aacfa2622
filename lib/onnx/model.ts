/**
 * ONNX models: load (file or bytes, checked by safety.ts, external data inlined), summarise, encode, save.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomic.ts';
import path from 'node:path';
import { MimicError } from '../errors.ts';
import { checkModel, inlineExternalData } from './safety.ts';
import { elemTypeName, onnx, toNum, type ModelProto, type OnnxTypes } from './proto.ts';

export { onnx, elemTypeName, type ModelProto } from './proto.ts';
export type { GraphProto, NodeProto, TensorProto, ValueInfoProto, OnnxTypes } from './proto.ts';
export { consumersOf, indexGraph, nodeInputs, nodeLabel, producerOf, topoOrder, topoOrderIndices, type GraphIndex } from './graph.ts';

export interface LoadOptions {
  /** folder that external data locations are relative to (default: the model file's folder; none for bytes) */
  baseDir?: string;
  /** what messages call the model (default: the file name, or '<bytes>') */
  source?: string;
}

/** Decodes protobuf bytes (E_FORMAT naming the source when they are not a ModelProto). No checks. */
export function decodeRaw(bytes: Uint8Array, source = '<bytes>'): ModelProto {
  if (!(bytes instanceof Uint8Array)) throw new MimicError('E_INVALID_ARGUMENT', `${source}: model bytes must be a Uint8Array`);
  if (bytes.length === 0) throw new MimicError('E_FORMAT', `${source}: the model is empty (0 bytes)`);
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new MimicError('E_FORMAT', `${source}: not a valid ONNX protobuf, truncated or corrupted (${(e as Error)?.message ?? String(e)})`, { cause: e });
  }
}

/** checkModel, with anything unexpected (a malformed message it trips over) reported as E_ONNX. */
function check(model: ModelProto, source: string): void {
  try {
    checkModel(model, { source });
  } catch (e) {
    if (e instanceof MimicError) throw e;
    throw new MimicError('E_ONNX', `${source}: the model is malformed (${(e as Error)?.message ?? String(e)})`, { cause: e });
  }
}

/**
 * Decodes and checks a model held in memory (synchronous). A model with external data needs loadModel (which
 * reads the files): here it is E_ONNX.
 */
export function decodeModel(bytes: Uint8Array, options: LoadOptions = {}): ModelProto {
  const source = options.source ?? '<bytes>';
  const model = decodeRaw(bytes, source);
  check(model, source);
  const ext = (model.graph?.initializer ?? []).find((t) => t.dataLocation === 1);
  if (ext) {
    throw new MimicError('E_ONNX', `${source}: initializer '${ext.name}' uses external data, which decodeModel cannot read: use loadModel (with baseDir for bytes)`);
  }
  return model;
}

/**
 * Loads a model from a file path or bytes: decode (E_FORMAT), structural checks (E_ONNX), external data read
 * and inlined (locations must stay inside the model's folder). The result is self-contained.
 */
export async function loadModel(input: string | Uint8Array, options: LoadOptions = {}): Promise<ModelProto> {
  let bytes: Uint8Array;
  let source: string;
  let baseDir = options.baseDir;
  if (typeof input === 'string') {
    source = options.source ?? input;
    try {
      bytes = new Uint8Array(await readFile(input));
    } catch (e) {
      throw new MimicError('E_FILE', `${source}: cannot read the model file (${(e as Error).message})`, { cause: e });
    }
    baseDir ??= path.dirname(path.resolve(input));
  } else {
    source = options.source ?? '<bytes>';
    bytes = input;
  }
  const model = decodeRaw(bytes, source);
  check(model, source);
  await inlineExternalData(model, { source, baseDir });
  return model;
}

/** Encodes a model to protobuf bytes. */
export function encodeModel(model: ModelProto | OnnxTypes.IModelProto): Uint8Array {
  try {
    return onnx.ModelProto.encode(model).finish();
  } catch (e) {
    throw new MimicError('E_ONNX', `the model cannot be encoded: ${(e as Error).message}`, { cause: e });
  }
}

/** Writes a model atomically (a temporary file in the same folder, then a rename). All data is inline. */
export async function saveModel(model: ModelProto | OnnxTypes.IModelProto, file: string): Promise<void> {
  await writeFileAtomic(file, [encodeModel(model)], 'the model');
}

// ---- summary ----

/** A dim: a number, a symbolic name, or '?' when unknown. */
export type Dim = number | string;

export interface ValueSummary {
  name: string;
  /** 'FLOAT', 'INT64', ...; 'UNDEFINED' when the type is not given; 'NON_TENSOR' for sequences / maps */
  elemType: string;
  /** null when the shape is not given */
  shape: Dim[] | null;
}

export interface NodeSummary {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
}

export interface InitializerSummary {
  name: string;
  dims: number[];
  elemType: string;
  external: boolean;
}

export interface ModelSummary {
  irVersion: number;
  /** opset version of the default ('' / 'ai.onnx') domain, null when not imported */
  opset: number | null;
  opsets: { domain: string; version: number }[];
  producer: { name: string; version: string };
  graphName: string;
  /** graph inputs that are not initializers */
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  nodes: NodeSummary[];
  initializers: InitializerSummary[];
  valueInfos: ValueSummary[];
  /** op type -> count */
  opCounts: Record<string, number>;
  /** total number of initializer elements */
  parameters: number;
}

export function valueSummary(v: OnnxTypes.IValueInfoProto): ValueSummary {
  const tt = v.type?.tensorType;
  if (v.type && !tt) return { name: v.name ?? '', elemType: 'NON_TENSOR', shape: null };
  const shape = tt?.shape
    ? (tt.shape.dim ?? []).map((d): Dim => {
        if (d.dimParam) return d.dimParam;
        if (d.dimValue != null) {
          const x = toNum(d.dimValue as number);
          return x < 0 ? '?' : x;
        }
        return '?';
      })
    : null;
  return { name: v.name ?? '', elemType: elemTypeName(tt?.elemType ?? 0), shape };
}

export function summarize(model: ModelProto): ModelSummary {
  const g = model.graph;
  if (!g) throw new MimicError('E_ONNX', 'the model has no graph');
  const opsets = (model.opsetImport ?? []).map((o) => ({ domain: o.domain ?? '', version: toNum(o.version as number) }));
  const def = opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  const initNames = new Set((g.initializer ?? []).map((t) => t.name));
  const opCounts: Record<string, number> = {};
  const nodes = (g.node ?? []).map((n) => {
    const op = n.opType ?? '';
    opCounts[op] = (opCounts[op] ?? 0) + 1;
    return { name: n.name ?? '', opType: n.opType ?? '', domain: n.domain ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])] };
  });
  let parameters = 0;
  const initializers = (g.initializer ?? []).map((t) => {
    const dims = (t.dims ?? []).map((d) => toNum(d as number));
    parameters += dims.reduce((a, b) => a * b, 1);
    return { name: t.name ?? '', dims, elemType: elemTypeName(t.dataType), external: t.dataLocation === 1 };
  });
  return {
    irVersion: toNum(model.irVersion as number),
    opset: def ? def.version : null,
    opsets,
    producer: { name: model.producerName ?? '', version: model.producerVersion ?? '' },
    graphName: g.name ?? '',
    inputs: (g.input ?? []).filter((v) => !initNames.has(v.name)).map(valueSummary),
    outputs: (g.output ?? []).map(valueSummary),
    nodes,
    initializers,
    valueInfos: (g.valueInfo ?? []).map(valueSummary),
    opCounts,
    parameters,
  };
}
