// onnxruntime runs for shape inference, in a worker thread: session creation and run block their thread, so they
// stay off the caller's event loop. One worker serves every request (no start-up cost per model). Plain JavaScript
// so it loads without a TypeScript loader.
// request:  { id, bytes, threads, feeds: [{ name, type, data, dims }] }
// reply:    { id, ok: true, shapes: [[name, dims], ...] } | { id, ok: false, stage: 'load' | 'run', message }
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

async function infer({ bytes, threads, feeds }) {
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'basic',
      logSeverityLevel: 4, // failures come back as errors; keep onnxruntime's own log quiet
    });
  } catch (err) {
    return { ok: false, stage: 'load', message: String(err?.message ?? err) };
  }
  try {
    const inputs = {};
    for (const f of feeds) inputs[f.name] = new ort.Tensor(f.type, f.data, f.dims);
    const results = await session.run(inputs, { logSeverityLevel: 4 });
    const shapes = [];
    for (const name of session.outputNames) {
      const t = results[name];
      if (t && Array.isArray(t.dims)) shapes.push([name, t.dims.map(Number)]);
    }
    return { ok: true, shapes };
  } catch (err) {
    return { ok: false, stage: 'run', message: String(err?.message ?? err) };
  } finally {
    await session.release().catch(() => {});
  }
}

parentPort.on('message', async (req) => {
  parentPort.postMessage({ id: req.id, ...(await infer(req)) });
});
