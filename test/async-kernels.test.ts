// The lower-level Promise calls (Optimizer.stepAsync, the loss kernels with async: true, twoViewsAsync,
// perturbBatchAsync) under a service's conditions: their arrays transferred (postMessage) right after the call. The
// native work reads copies made at the call, so the result equals an undisturbed call's; an array the call writes
// into (the optimiser's parameters, an attention layer's `grad`) detached meanwhile rejects the call, naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MimicError, Optimizer, perturbBatch, perturbBatchAsync } from '../lib/index.ts';
import { twoViews, twoViewsAsync } from '../lib/train/augment.ts';
import { losses } from './loss-helpers.ts';
import { freshSeed, mulberry32, randomUniform as random, transferAway } from './helpers.ts';

const invalidArg = (re: RegExp) => (e: unknown) => e instanceof MimicError && e.code === 'E_INVALID_ARGUMENT' && re.test(e.message);

test('Optimizer.stepAsync: gradients transferred after the call give the step of an undisturbed optimiser; a parameter transferred rejects, naming it', async () => {
  const seed = freshSeed('detach optimizer');
  const sizes = [1 << 20, 1000];
  const twin = () => {
    const params = sizes.map((n, i) => random(n, seed + i));
    return { params, opt: Optimizer.create({ kind: 'adamw', params, lr: 1e-2, threads: 1 }) };
  };
  const grads = () => sizes.map((n, i) => random(n, seed + 10 + i));
  const quiet = twin();
  quiet.opt.step(grads());

  const moved = twin();
  const g = grads();
  const p = moved.opt.stepAsync(g);
  g.forEach(transferAway);
  await p;
  assert.deepEqual(moved.params, quiet.params);
  assert.equal(moved.opt.stepCount, 1);

  // borrowed: the same step, in place
  const borrowed = twin();
  await borrowed.opt.stepAsync(grads(), { borrow: true });
  assert.deepEqual(borrowed.params, quiet.params);

  const lost = twin();
  const before = lost.params[0].slice();
  const q = lost.opt.stepAsync(grads());
  transferAway(lost.params[1]);
  await assert.rejects(q, invalidArg(/Optimizer\.stepAsync: params\[1\] was detached/));
  assert.deepEqual(lost.params[0], quiet.params[0], 'the parameters still attached took the step');
  assert.notDeepEqual(lost.params[0], before);
});

test('Optimizer: the step count while a step runs, empty parameters, and parameters that share memory', async () => {
  const a = random(1 << 18, 1), empty = new Float32Array(0);
  const opt = Optimizer.create({ kind: 'adam', params: [a, empty], threads: 1 });
  const pending = opt.stepAsync([random(1 << 18, 2), new Float32Array(0)]);
  assert.equal(opt.stepCount, 0, 'the count before the running step');
  await pending;
  assert.equal(opt.stepCount, 1);
  transferAway(empty); // nothing to write back into an empty parameter: its buffer does not matter
  await opt.stepAsync([random(1 << 18, 3), new Float32Array(0)]);
  assert.equal(opt.stepCount, 2);
  const twice = (params: Float32Array[]) => () => Optimizer.create({ kind: 'adam', params });
  assert.throws(twice([a, a]), invalidArg(/params\[0\] and params\[1\] share memory/));
  assert.throws(twice([a.subarray(0, 100), random(5, 4), a.subarray(50, 200)]), invalidArg(/params\[0\] and params\[2\] share memory/));
  Optimizer.create({ kind: 'adam', params: [a.subarray(0, 100), a.subarray(100, 200)] }); // adjacent views are fine
});

test('losses with async: true read copies of their inputs; an attention layer\'s grad is written when the call settles, and a detached one rejects', async () => {
  const seed = freshSeed('detach losses');
  const B = 64;
  const layer = () => ({ student: random(B * 32 * 16 * 16, seed), teacher: random(B * 16 * 16 * 16, seed + 1), studentShape: [B, 32, 16, 16], teacherShape: [B, 16, 16, 16], beta: 2 });
  const sync = losses.attention({ layers: [layer()], p: 2 }) as { loss: number; grads: Float32Array[] };

  const l = layer();
  const grad = new Float32Array(B * 32 * 16 * 16);
  const pending = losses.attention({ layers: [{ ...l, grad }], p: 2, async: true }) as Promise<{ loss: number; grads: Float32Array[] }>;
  transferAway(l.student);
  transferAway(l.teacher);
  const got = await pending;
  assert.equal(got.loss, sync.loss);
  assert.equal(got.grads[0], grad, 'grads[0] is the caller\'s array');
  assert.deepEqual(grad, sync.grads[0]);

  // a rejected call writes none of the grads (layer 0's stays untouched when layer 1's is gone)
  const kept = new Float32Array(B * 32 * 16 * 16), lostGrad = new Float32Array(B * 32 * 16 * 16);
  const q = losses.attention({ layers: [{ ...layer(), grad: kept }, { ...layer(), grad: lostGrad }], p: 2, async: true }) as Promise<unknown>;
  transferAway(lostGrad);
  await assert.rejects(q, (e: unknown) => (e as { code?: string }).code === 'E_INVALID_ARGUMENT' && /layers\[1\]\.grad was detached/.test((e as Error).message));
  assert.ok(kept.every((x) => x === 0), 'layer 0\'s grad was written by a rejected call');

  // inputs of a few MB each: memory that large is unmapped as soon as the transferred buffer is dropped
  const NB = 1024, ND = 512;
  const u = random(2 * NB * ND, seed + 2);
  const ntSync = losses.ntXent({ u, shape: [2 * NB, ND] }) as { loss: number; grad: Float32Array };
  const uMoved = u.slice();
  const nt = losses.ntXent({ u: uMoved, shape: [2 * NB, ND], async: true }) as Promise<{ loss: number; grad: Float32Array }>;
  transferAway(uMoved);
  const ntGot = await nt;
  assert.equal(ntGot.loss, ntSync.loss);
  assert.deepEqual(ntGot.grad, ntSync.grad);

  const z = random(NB * ND, seed + 3), t = random(NB * ND, seed + 4);
  const cSync = losses.clone({ student: z, teacher: t, shape: [NB, ND] }) as { loss: number; grad: Float32Array };
  const zMoved = z.slice(), tMoved = t.slice();
  const c = losses.clone({ student: zMoved, teacher: tMoved, shape: [NB, ND], async: true }) as Promise<{ loss: number; grad: Float32Array }>;
  transferAway(zMoved);
  transferAway(tMoved);
  const cGot = await c;
  assert.equal(cGot.loss, cSync.loss);
  assert.deepEqual(cGot.grad, cSync.grad);

  // borrowed: in place, the same numbers
  const b = layer();
  const bGrad = new Float32Array(B * 32 * 16 * 16);
  const bGot = await (losses.attention({ layers: [{ ...b, grad: bGrad }], p: 2, async: true, borrow: true }) as Promise<{ loss: number }>);
  assert.equal(bGot.loss, sync.loss);
  assert.deepEqual(bGrad, sync.grads[0]);
});

test('twoViewsAsync and perturbBatchAsync: images transferred after the call give the undisturbed result', async () => {
  const seed = freshSeed('detach augment');
  const count = 2000, C = 3, H = 32, W = 32; // large enough to be unmapped when freed, during the work
  const r = mulberry32(seed);
  const pixels = () => Uint8Array.from({ length: count * C * H * W }, () => Math.floor(r() * 256));
  const ds = { name: 'x', count, channels: C, height: H, width: W, pixels: pixels(), source: 'x' };
  const indices = Int32Array.from({ length: 1024 }, (_, k) => (k * 37 + 11) % count);
  const opts = { seed, counter: 2, threads: 1 };
  const quiet = twoViews(ds, indices, opts);
  const moved = { ...ds, pixels: ds.pixels.slice() };
  const p = twoViewsAsync(moved, indices, opts);
  transferAway(moved.pixels);
  const got = await p;
  assert.deepEqual(got.view1, quiet.view1);
  assert.deepEqual(got.view2, quiet.view2);

  const shape: [number, number, number, number] = [1024, C, H, W];
  const popts = { seed, counter: 3, normalize: 'cifar10' as const, patch: { rate: 0.5 }, blend: { rate: 0.5 }, noise: { rate: 0.5 }, threads: 1 };
  const pq = perturbBatch(quiet.view1, shape, popts);
  const views = quiet.view1.slice();
  const pp = perturbBatchAsync(views, shape, popts);
  transferAway(views);
  assert.deepEqual((await pp).images, pq.images);
});
