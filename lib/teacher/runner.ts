/**
 * The teacher runner: an onnxruntime-node session in a worker thread (the main event loop keeps ticking), fed
 * float32 NCHW batches, returning the requested tensors (features and probe maps) as Float32Arrays.
 */
import { Worker } from 'node:worker_threads';
import { MimicError, type ErrorCode } from '../errors.ts';
import { checkOptionNames, optionNames } from '../util/options.ts';

export interface TeacherOptions {
  /** The ONNX model bytes (with every tensor to return already exposed as a graph output). */
  model: Uint8Array;
  /** Graph outputs to fetch on every run. */
  outputs: string[];
  /** onnxruntime intra-op threads (default 1; 0 lets onnxruntime choose). */
  threads?: number;
  /** 'cpu' (default) or 'cuda' (used when this onnxruntime-node has it; otherwise a message and the CPU). */
  provider?: 'cpu' | 'cuda';
  /** Receives notices such as the CUDA fallback (default: stderr). */
  onMessage?: (message: string) => void;
}

const TEACHER_OPTIONS = optionNames<TeacherOptions>({ model: true, outputs: true, threads: true, provider: true, onMessage: true });

export interface TensorOut {
  data: Float32Array;
  dims: number[];
}

type Pending = { resolve: (v: Record<string, TensorOut>) => void; reject: (e: Error) => void };

export class TeacherRunner {
  readonly provider: 'cpu' | 'cuda';
  readonly inputNames: string[];
  readonly outputNames: string[];
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure?: MimicError;
  private closed?: Promise<void>;

  private constructor(worker: Worker, ready: { provider: 'cpu' | 'cuda'; inputNames: string[]; outputNames: string[] }) {
    this.worker = worker;
    this.provider = ready.provider;
    this.inputNames = ready.inputNames;
    this.outputNames = ready.outputNames;
    worker.on('message', (msg) => this.onMessage(msg));
    worker.on('error', (err) => this.fail(new MimicError('E_INTERNAL', `teacher worker crashed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (this.pending.size) this.fail(new MimicError('E_INTERNAL', `teacher worker exited (code ${code}) with runs pending`));
    });
  }

  static async create(options: TeacherOptions): Promise<TeacherRunner> {
    if (!options || typeof options !== 'object') throw new MimicError('E_INVALID_ARGUMENT', 'TeacherRunner.create: options object required');
    checkOptionNames(options, TEACHER_OPTIONS, 'TeacherRunner.create');
    const threads = options.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 0) throw new MimicError('E_INVALID_ARGUMENT', `threads must be a non-negative integer (got ${threads})`);
    const provider = options.provider ?? 'cpu';
    if (provider !== 'cpu' && provider !== 'cuda') throw new MimicError('E_INVALID_ARGUMENT', `provider must be 'cpu' or 'cuda' (got '${provider}')`);
    if (!Array.isArray(options.outputs) || options.outputs.some((o) => typeof o !== 'string'))
      throw new MimicError('E_INVALID_ARGUMENT', 'outputs: an array of the tensor names to fetch is required');
    if (options.outputs.length === 0) throw new MimicError('E_INVALID_ARGUMENT', 'outputs: at least one tensor to fetch is required');
    const worker = new Worker(new URL('./ort-worker.mjs', import.meta.url), {
      workerData: { model: options.model, outputs: options.outputs, threads, provider },
    });
    const ready = await new Promise<{ provider: 'cpu' | 'cuda'; inputNames: string[]; outputNames: string[]; message?: string }>((resolve, reject) => {
      worker.once('message', (msg) => {
        if (msg.type === 'ready') resolve(msg);
        else reject(new MimicError((msg.code ?? 'E_ONNX') as ErrorCode, `onnxruntime could not load the teacher: ${msg.message}`));
      });
      worker.once('error', (err) => reject(new MimicError('E_INTERNAL', `teacher worker failed to start: ${err.message}`, { cause: err })));
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    if (ready.message) (options.onMessage ?? ((m) => process.stderr.write(`mimic: ${m}\n`)))(ready.message);
    const missing = options.outputs.filter((o) => !ready.outputNames.includes(o));
    if (missing.length) {
      await worker.terminate();
      throw new MimicError('E_ONNX', `the model has no graph output named ${missing.map((m) => `'${m}'`).join(', ')} (outputs: ${ready.outputNames.join(', ')})`);
    }
    return new TeacherRunner(worker, ready);
  }

  /** Runs one batch (the input is transferred to the worker: do not reuse `data` afterwards). */
  run(data: Float32Array, dims: number[]): Promise<Record<string, TensorOut>> {
    if (this.closed) return Promise.reject(new MimicError('E_INVALID_ARGUMENT', 'TeacherRunner.run: the runner is closed'));
    if (this.failure) return Promise.reject(this.failure);
    if (!(data instanceof Float32Array)) return Promise.reject(new MimicError('E_DTYPE', 'TeacherRunner.run: data must be a Float32Array'));
    if (!Array.isArray(dims) || dims.some((d) => !Number.isInteger(d) || d < 1))
      return Promise.reject(new MimicError('E_INVALID_ARGUMENT', `TeacherRunner.run: dims must be positive integers (got ${JSON.stringify(dims)})`));
    // Only a buffer the array owns whole can be transferred without detaching someone else's data.
    const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'run', id, input: { data: owned, dims } }, [owned.buffer as ArrayBuffer]);
    });
  }

  /**
   * Releases the session and lets the worker exit by itself: terminating it while onnxruntime is still inside
   * release() aborted the process now and then on a loaded machine ("terminate called after throwing an instance of
   * 'Napi::Error'"). A worker that has not exited after 10 s is terminated.
   */
  close(): Promise<void> {
    this.closed ??= this.shutDown();
    return this.closed;
  }

  private async shutDown(): Promise<void> {
    const exited = new Promise((r) => this.worker.once('exit', r));
    this.worker.postMessage({ type: 'close' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    await this.worker.terminate();
  }

  private onMessage(msg: { type: string; id?: number; outputs?: Record<string, TensorOut>; message?: string; code?: string }) {
    const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
    if (!p) return;
    this.pending.delete(msg.id!);
    if (msg.type === 'result') p.resolve(msg.outputs!);
    else p.reject(new MimicError((msg.code ?? 'E_ONNX') as ErrorCode, `teacher run failed: ${msg.message}`));
  }

  private fail(err: MimicError) {
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
