/**
 * Runs the teacher over chosen images of a dataset in batches and gathers the requested tensors (features, probe
 * maps) into one Float32Array each, sample-major. The next batch is built while the worker runs the current one.
 */
import { MimicError, invalid, checkAborted } from '../errors.ts';
import { makeBatch, planBatch, type BatchSpec } from '../data/transform.ts';
import type { ImageDataset } from '../data/types.ts';
import { TeacherRunner } from './runner.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export interface DatasetRunOptions {
  /** ONNX bytes with every requested tensor exposed as a graph output. */
  model: Uint8Array;
  data: ImageDataset;
  /** Images to run, in order (default: all). */
  indices?: readonly number[];
  /** Model input layout and the image transform. */
  spec: BatchSpec;
  /** Tensors to gather, with their per-sample element counts. */
  tensors: { name: string; size: number }[];
  batchSize?: number;
  threads?: number;
  provider?: 'cpu' | 'cuda';
  onMessage?: (message: string) => void;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

const RUN_OPTIONS = optionNames<DatasetRunOptions>({ model: true, data: true, indices: true, spec: true, tensors: true, batchSize: true, threads: true, provider: true, onMessage: true, onProgress: true, signal: true });

export interface DatasetRunResult {
  /** One array per requested tensor, (n x size) row-major. */
  outputs: Float32Array[];
  n: number;
  provider: 'cpu' | 'cuda';
}

export async function runTeacherOnDataset(o: DatasetRunOptions): Promise<DatasetRunResult> {
  checkOptionNames(o, RUN_OPTIONS, 'runTeacherOnDataset');
  const indices = o.indices ?? Array.from({ length: o.data.count }, (_, i) => i);
  const n = indices.length;
  const batchSize = o.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalid(`batchSize must be a positive integer (got ${o.batchSize})`);
  if (n === 0) throw invalid('no images to run');
  const plan = planBatch(o.data, o.spec);
  const runner = await TeacherRunner.create({
    model: o.model,
    outputs: o.tensors.map((t) => t.name),
    threads: o.threads ?? 1,
    provider: o.provider ?? 'cpu',
    onMessage: o.onMessage,
  });
  const outputs = o.tensors.map((t) => new Float32Array(n * t.size));
  try {
    const make = (start: number) => {
      const idx = indices.slice(start, start + batchSize);
      return { start, count: idx.length, data: makeBatch(o.data, idx, plan) };
    };
    let next = make(0);
    for (let start = 0; start < n; start += batchSize) {
      checkAborted(o.signal, 'teacher run');
      const cur = next;
      const pending = runner.run(cur.data, [cur.count, o.spec.channels, o.spec.height, o.spec.width]);
      if (start + batchSize < n) next = make(start + batchSize); // overlap: build the next batch now
      const out = await pending;
      o.tensors.forEach((t, i) => {
        const got = out[t.name];
        if (got.data.length !== cur.count * t.size)
          throw new MimicError('E_ONNX', `tensor '${t.name}' has ${got.data.length / cur.count} values per sample, expected ${t.size}`);
        outputs[i].set(got.data, cur.start * t.size);
      });
      o.onProgress?.(cur.start + cur.count, n);
    }
    return { outputs, n, provider: runner.provider };
  } finally {
    await runner.close();
  }
}
