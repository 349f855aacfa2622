/**
 * The ONNX protobuf classes (onnx-proto, generated protobufjs code) and small conversions shared by lib/onnx.
 * onnx-proto is CommonJS without statically detectable named exports: `onnx` comes off the default export.
 */
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';

export const onnx: typeof OnnxTypes = onnxProto.onnx;
export type { OnnxTypes };
export type ModelProto = OnnxTypes.ModelProto;
// nested messages are typed by their interfaces (what the generated classes declare for their fields)
export type GraphProto = OnnxTypes.IGraphProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type ValueInfoProto = OnnxTypes.IValueInfoProto;
export type AttributeProto = OnnxTypes.IAttributeProto;

export const DataType = onnx.TensorProto.DataType;

/** ONNX element type code -> name ('FLOAT', 'INT64', ...; 'UNKNOWN(n)' for codes this version does not know). */
export function elemTypeName(code: number | null | undefined): string {
  if (code == null) return 'UNDEFINED';
  const name = (DataType as unknown as Record<number, string>)[code];
  return typeof name === 'string' ? name : `UNKNOWN(${code})`;
}

/** Bytes per element of the fixed-size element types (0 for STRING / UNDEFINED / unknown). */
export function elemSize(code: number): number {
  switch (code) {
    case DataType.FLOAT: case DataType.INT32: case DataType.UINT32: return 4;
    case DataType.UINT8: case DataType.INT8: case DataType.BOOL: return 1;
    case DataType.UINT16: case DataType.INT16: case DataType.FLOAT16: case DataType.BFLOAT16: return 2;
    case DataType.INT64: case DataType.UINT64: case DataType.DOUBLE: case DataType.COMPLEX64: return 8;
    case DataType.COMPLEX128: return 16;
    default: return 0;
  }
}

type LongLike = { toNumber(): number; high: number; low: number; unsigned?: boolean };

/** A protobuf int64 (number or Long) as a JS number (exact up to 2^53; beyond that only approximately). */
export function toNum(v: number | LongLike | string | null | undefined): number {
  if (v == null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  return v.toNumber();
}

/** A copy of a model that shares every field with the original except the graph, which is a shallow copy. */
export function shallowCopy(model: ModelProto): ModelProto {
  const copy = new onnx.ModelProto(model);
  if (model.graph) {
    const g = new onnx.GraphProto(model.graph);
    g.input = [...(model.graph.input ?? [])];
    g.output = [...(model.graph.output ?? [])];
    g.node = [...(model.graph.node ?? [])];
    g.initializer = [...(model.graph.initializer ?? [])];
    g.valueInfo = [...(model.graph.valueInfo ?? [])];
    copy.graph = g;
  }
  return copy;
}
