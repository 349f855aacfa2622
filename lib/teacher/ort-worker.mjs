// The teacher's onnxruntime session, in a worker thread: InferenceSession.run blocks its thread, so it must not be
// the main one. Plain JavaScript so that the worker loads without a TypeScript loader, wherever mimic runs from.
//
// Protocol (parent -> worker):  { type: 'run', id, input: { data: Float32Array, dims } }   (data transferred)
//                               { type: 'close' }
// (worker -> parent):           { type: 'ready', provider, inputNames, outputNames, message? }
//                               { type: 'result', id, outputs: { name: { data, dims } } }   (buffers transferred)
//                               { type: 'error', id?, message, code }
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

const { model, outputs, threads, provider } = workerData;

// The CUDA execution provider is a separate download for onnxruntime-node; without its library, asking for it only
// produces a native error log, so look for the file first.
function cudaProviderInstalled() {
  const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return existsSync(join(ortDir, 'bin', 'napi-v6', process.platform, process.arch, lib));
}

async function createSession() {
  // No spinning: onnxruntime's intra-op threads otherwise spin after every run, taking the cores the student's step
  // needs next (a 2-thread teacher made the width-8 student's forward 46 -> 71 ms); the teacher's own runs lost
  // nothing measurable (localisation over 2000 images, 2 threads).
  const base = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  const fallback = (why) => ({
    used: 'cpu',
    message:
      `execution provider 'cuda' is not available in this onnxruntime-node (${why}); running the teacher on the ` +
      'CPU. To use the GPU, install onnxruntime-node with its CUDA add-on (ONNXRUNTIME_NODE_INSTALL=cuda12 on a ' +
      'machine that can download it).',
  });
  if (provider === 'cuda' && !cudaProviderInstalled()) {
    const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] });
    return { session, ...fallback('its CUDA provider library is not installed') };
  }
  if (provider === 'cuda') {
    try {
      const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cuda'] });
      return { session, used: 'cuda' };
    } catch (err) {
      const session = await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] });
      return { session, ...fallback(String(err.message ?? err).split('\n')[0]) };
    }
  }
  return { session: await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] }), used: 'cpu' };
}

let session;
try {
  const created = await createSession();
  session = created.session;
  parentPort.postMessage({
    type: 'ready',
    provider: created.used,
    message: created.message,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
  });
} catch (err) {
  parentPort.postMessage({ type: 'error', message: String(err.message ?? err), code: 'E_ONNX' });
}

parentPort.on('message', async (msg) => {
  if (msg.type === 'close') {
    await session?.release?.();
    parentPort.close();
    return;
  }
  if (msg.type !== 'run') return;
  try {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', msg.input.data, msg.input.dims) };
    const result = await session.run(feeds, outputs);
    const out = {};
    const transfer = [];
    for (const name of outputs) {
      const t = result[name];
      if (t.type !== 'float32') throw new Error(`output '${name}' is ${t.type}, expected float32`);
      // Copy into an owned buffer: ORT's tensor memory is not ours to transfer.
      const data = new Float32Array(t.data);
      out[name] = { data, dims: Array.from(t.dims, Number) };
      transfer.push(data.buffer);
    }
    parentPort.postMessage({ type: 'result', id: msg.id, outputs: out }, transfer);
  } catch (err) {
    parentPort.postMessage({ type: 'error', id: msg.id, message: String(err.message ?? err), code: 'E_ONNX' });
  }
});
