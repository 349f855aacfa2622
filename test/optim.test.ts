// Optimisers (Adam, AdamW, SGD) against PyTorch 1.13's trajectories (committed fixtures, made by
// test/fixtures/make_optim_ref.py) and against a float64 reference written here; lr changes between steps,
// parameter groups, exact resume from saved state, thread-count independence, typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MimicError } from '../lib/errors.ts';
import { readNpy } from '../lib/io/npy.ts';
import { Optimizer, type Hyperparameters, type OptimizerKind, type OptimizerOptions, type ParamGroupOptions } from '../lib/train/optim.ts';
import { freshSeed, gaussian, mulberry32 } from './helpers.ts';

const FIX = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'optim');

interface PyCase {
  kind: OptimizerKind;
  lr: number;
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
  amsgrad?: boolean;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  groups?: (Record<string, unknown> & { params: number[] })[];
  lr_changes: Record<string, Record<string, number>>;
}
interface Manifest {
  steps: number;
  shapes: number[][];
  cases: Record<string, PyCase>;
}

/** PyTorch's option names -> ours. */
function jsHyper(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k === 'kind' || k === 'lr_changes') continue;
    out[k === 'weight_decay' ? 'weightDecay' : k] = v;
  }
  return out;
}

function caseOptions(c: PyCase, params: Float32Array[]): OptimizerOptions {
  const top = jsHyper(c as unknown as Record<string, unknown>);
  delete top.groups;
  const groups = c.groups?.map((g) => jsHyper(g) as unknown as ParamGroupOptions);
  return { ...(top as object), kind: c.kind, params, ...(groups ? { groups } : {}) } as OptimizerOptions;
}

async function loadFixtures() {
  const manifest = JSON.parse(await readFile(join(FIX, 'manifest.json'), 'utf8')) as Manifest;
  const p0 = (await readNpy(join(FIX, 'params0.npy'))).data as Float32Array;
  const grads = (await readNpy(join(FIX, 'grads.npy'))).data as Float32Array;
  const sizes = manifest.shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const trajs: Record<string, Float32Array> = {};
  for (const name of Object.keys(manifest.cases)) trajs[name] = (await readNpy(join(FIX, `${name}.npy`))).data as Float32Array;
  return { manifest, p0, grads, sizes, trajs };
}

/** Splits a flat array into per-parameter copies. */
function split(flat: Float32Array, sizes: number[], offset = 0): Float32Array[] {
  const out: Float32Array[] = [];
  let o = offset;
  for (const n of sizes) {
    out.push(flat.slice(o, o + n));
    o += n;
  }
  return out;
}

function concat(parts: ArrayLike<number>[]): Float64Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const p of parts) for (let i = 0; i < p.length; ++i) out[o++] = p[i];
  return out;
}

/**
 * max over elements of |a - b| / scale, with scale the largest |b| of the element's parameter tensor: rounding
 * differences are a few ulp of the magnitudes a value passed through, so an element that moved close to zero
 * keeps the absolute error of its tensor's scale (PyTorch's vectorised kernels use FMA; most elements agree
 * bit for bit, the rest by ~1 ulp of the tensor's scale).
 */
/**
 * Worst element error relative to each tensor's largest magnitude: of `b`, and of `start` when given (the values
 * the run started from: a one-element tensor that steps from -0.1 to 0.002 carries the rounding of -0.1).
 */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>, sizes: number[], start?: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0, o = 0;
  for (const n of sizes) {
    let scale = 0;
    for (let i = o; i < o + n; ++i) scale = Math.max(scale, Math.abs(b[i]), start ? Math.abs(start[i]) : 0);
    for (let i = o; i < o + n; ++i) {
      const e = Math.abs(a[i] - b[i]) / Math.max(scale, 1e-30);
      if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
    }
    o += n;
  }
  return worst;
}

// ---- float64 reference of PyTorch's algorithms ----
interface RefGroup {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
  amsgrad: boolean;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  params: number[];
}

function refGroups(o: OptimizerOptions): RefGroup[] {
  const base = (h: Hyperparameters, d: RefGroup): RefGroup => ({
    lr: h.lr ?? d.lr,
    b1: h.betas?.[0] ?? d.b1,
    b2: h.betas?.[1] ?? d.b2,
    eps: h.eps ?? d.eps,
    wd: h.weightDecay ?? d.wd,
    amsgrad: h.amsgrad ?? d.amsgrad,
    momentum: h.momentum ?? d.momentum,
    dampening: h.dampening ?? d.dampening,
    nesterov: h.nesterov ?? d.nesterov,
    params: d.params,
  });
  const d0: RefGroup = {
    lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: o.kind === 'adamw' ? 1e-2 : 0, amsgrad: false,
    momentum: 0, dampening: 0, nesterov: false, params: o.params.map((_, i) => i),
  };
  const top = base(o, d0);
  if (!o.groups) return [top];
  return o.groups.map((g) => ({ ...base(g, top), params: g.params }));
}

class RefOptimizer {
  readonly p: Float64Array[];
  readonly groups: RefGroup[];
  private m: Float64Array[];
  private v: Float64Array[];
  private vmax: Float64Array[];
  private t = 0;
  constructor(readonly kind: OptimizerKind, params: ArrayLike<number>[], groups: RefGroup[]) {
    this.p = params.map((x) => Float64Array.from(x));
    this.groups = groups;
    this.m = this.p.map((x) => new Float64Array(x.length));
    this.v = this.p.map((x) => new Float64Array(x.length));
    this.vmax = this.p.map((x) => new Float64Array(x.length));
  }
  step(grads: ArrayLike<number>[]): void {
    const t = ++this.t;
    for (const G of this.groups)
      for (const i of G.params) {
        const p = this.p[i], gr = grads[i], m = this.m[i], v = this.v[i], vmax = this.vmax[i];
        for (let e = 0; e < p.length; ++e) {
          let g = gr[e];
          if (this.kind === 'sgd') {
            if (G.wd !== 0) g += G.wd * p[e];
            if (G.momentum !== 0) {
              m[e] = t === 1 ? g : m[e] * G.momentum + (1 - G.dampening) * g;
              g = G.nesterov ? g + G.momentum * m[e] : m[e];
            }
            p[e] -= G.lr * g;
          } else {
            if (this.kind === 'adamw') p[e] *= 1 - G.lr * G.wd;
            else if (G.wd !== 0) g += G.wd * p[e];
            m[e] = G.b1 * m[e] + (1 - G.b1) * g;
            v[e] = G.b2 * v[e] + (1 - G.b2) * g * g;
            let vv = v[e];
            if (G.amsgrad) vv = vmax[e] = Math.max(vmax[e], v[e]);
            const denom = Math.sqrt(vv) / Math.sqrt(1 - G.b2 ** t) + G.eps;
            p[e] -= (G.lr / (1 - G.b1 ** t)) * (m[e] / denom);
          }
        }
      }
  }
}

test('optimisers reproduce PyTorch 1.13 trajectories (Adam, AdamW, SGD, groups, lr changes) to 1e-6', async () => {
  const { manifest, p0, grads, sizes, trajs } = await loadFixtures();
  const P = p0.length;
  const report: string[] = [];
  for (const [name, c] of Object.entries(manifest.cases)) {
    const params = split(p0, sizes);
    const opts = caseOptions(c, params);
    const opt = Optimizer.create(opts);
    const ref = new RefOptimizer(c.kind, params, refGroups(opts));
    let worstEngine = 0, worstRef = 0, worstRefEngine = 0;
    for (let k = 0; k < manifest.steps; ++k) {
      for (const [g, lr] of Object.entries(c.lr_changes[String(k)] ?? {})) {
        opt.setLr(lr, Number(g));
        ref.groups[Number(g)].lr = lr;
      }
      const gk = split(grads, sizes, k * P);
      opt.step(gk);
      ref.step(gk);
      const torch = trajs[name].subarray(k * P, (k + 1) * P);
      const eng = concat(params), r64 = concat(ref.p);
      worstEngine = Math.max(worstEngine, relErr(eng, torch, sizes));
      worstRef = Math.max(worstRef, relErr(r64, torch, sizes));
      worstRefEngine = Math.max(worstRefEngine, relErr(eng, r64, sizes));
    }
    assert.equal(opt.stepCount, manifest.steps);
    report.push(`${name}: engine-torch ${worstEngine.toExponential(2)}, ref64-torch ${worstRef.toExponential(2)}, engine-ref64 ${worstRefEngine.toExponential(2)}`);
    assert.ok(worstEngine <= 1e-6, `${name}: engine vs PyTorch relative error ${worstEngine}`);
    assert.ok(worstRef <= 1e-6, `${name}: float64 reference vs PyTorch relative error ${worstRef}`);
    assert.ok(worstRefEngine <= 1e-6, `${name}: engine vs float64 reference relative error ${worstRefEngine}`);
  }
  process.stderr.write(`# ${report.join('\n# ')}\n`);
});

// Random configurations and sizes (large enough for several work chunks): float64 reference, 1 vs 2 threads bit-identical.
test('random runs agree with the float64 reference and do not depend on the thread count', () => {
  const seed = freshSeed('optim random');
  const rng = mulberry32(seed);
  const configs: Omit<OptimizerOptions, 'params'>[] = [
    { kind: 'adam', lr: 3e-3, weightDecay: 1e-4 },
    { kind: 'adam', lr: 1e-2, betas: [0.5, 0.9], eps: 1e-6, amsgrad: true },
    { kind: 'adamw', lr: 1e-2, weightDecay: 0.05 },
    { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-3, nesterov: true },
    { kind: 'sgd', lr: 0.05, momentum: 0.8, dampening: 0.3 },
  ];
  const sizes = [70001, 33, 1, 40000];
  for (const cfg of configs) {
    const init = sizes.map((n, i) => gaussian(n, seed + 11 * i, 0.5));
    const p1 = init.map((a) => a.slice()), p2 = init.map((a) => a.slice());
    const o1 = Optimizer.create({ ...cfg, params: p1, threads: 1 });
    const o2 = Optimizer.create({ ...cfg, params: p2, threads: 2 });
    const ref = new RefOptimizer(cfg.kind, init, refGroups({ ...cfg, params: init }));
    for (let k = 0; k < 4; ++k) {
      const g = sizes.map((n, i) => gaussian(n, seed + 1000 * (k + 1) + i, 0.1 + rng()));
      o1.step(g);
      o2.step(g);
      ref.step(g);
    }
    for (let i = 0; i < sizes.length; ++i) assert.deepEqual(p1[i], p2[i], `${cfg.kind}: 1 vs 2 threads differ`);
    const err = relErr(concat(p1), concat(ref.p), sizes, concat(init));
    assert.ok(err <= 1e-6, `${JSON.stringify(cfg)}: engine vs float64 reference ${err}`);
  }
});

test('setLr between steps: all groups or one, reported by hyperparameters(); lr 0 freezes SGD', () => {
  const p = [new Float32Array([1, 2, 3]), new Float32Array([4, 5])];
  const opt = Optimizer.create({ kind: 'sgd', lr: 0.1, params: p, groups: [{ params: [0] }, { params: [1], lr: 0.5 }] });
  assert.deepEqual(opt.hyperparameters().map((g) => g.lr), [0.1, 0.5]);
  opt.setLr(0.2, 1);
  assert.deepEqual(opt.hyperparameters().map((g) => g.lr), [0.1, 0.2]);
  opt.setLr(0);
  assert.deepEqual(opt.hyperparameters().map((g) => g.lr), [0, 0]);
  const before = p.map((a) => a.slice());
  opt.step([new Float32Array([1, 1, 1]), new Float32Array([1, 1])]);
  assert.deepEqual(p, before);
  opt.setLr(1);
  opt.step([new Float32Array([1, 0, -1]), new Float32Array([0.5, 0.25])]);
  assert.deepEqual(Array.from(p[0]), [0, 2, 4]);
  assert.deepEqual(Array.from(p[1]), [3.5, 4.75]);
  assert.equal(opt.stepCount, 2);
});

test('saveState / loadState resume bit-identically (float32 and float64 states), async step too', async () => {
  const seed = freshSeed('optim resume');
  const sizes = [5000, 17, 300];
  const configs: Omit<OptimizerOptions, 'params'>[] = [
    { kind: 'adam', lr: 1e-2, weightDecay: 1e-2, amsgrad: true },
    { kind: 'adamw', lr: 1e-2, groups: [{ params: [0, 2] }, { params: [1], lr: 1e-3, betas: [0.8, 0.99] }] },
    { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
    { kind: 'sgd', lr: 0.05 },
  ];
  const grads = Array.from({ length: 6 }, (_, k) => sizes.map((n, i) => gaussian(n, seed + 100 * k + i)));
  for (const cfg of configs)
    for (const dtype of ['float32', 'float64'] as const) {
      const init = sizes.map((n, i) => gaussian(n, seed + 7 + i, 0.5));
      const full = init.map((a) => a.slice());
      const a = Optimizer.create({ ...cfg, params: full });
      for (let k = 0; k < 6; ++k) {
        if (k === 3) a.setLr(4e-3, 0);
        a.step(grads[k]);
      }

      const part = init.map((a) => a.slice());
      const b = Optimizer.create({ ...cfg, params: part });
      for (let k = 0; k < 3; ++k) b.step(grads[k]);
      b.setLr(4e-3, 0); // saved with the state (groups' hyperparameters)
      const saved = b.saveState(dtype);
      assert.equal(saved.step, 3);
      assert.ok(dtype === 'float32' ? saved.state instanceof Float32Array : saved.state instanceof Float64Array);
      const snapshot = saved.state.slice();

      // A fresh optimiser (created with the original lr) over a copy of the parameters.
      const resumed = part.map((a) => a.slice());
      const c = Optimizer.create({ ...cfg, params: resumed });
      c.loadState(saved);
      assert.equal(c.stepCount, 3);
      assert.equal(c.hyperparameters()[0].lr, 4e-3);
      for (let k = 3; k < 6; ++k) await c.stepAsync(grads[k]);
      for (let i = 0; i < sizes.length; ++i) assert.deepEqual(resumed[i], full[i], `${cfg.kind} ${dtype}: resumed run differs`);
      assert.deepEqual(saved.state, snapshot, 'saveState returned a copy');
      assert.deepEqual(c.saveState().state, a.saveState().state);
    }
});

function code(fn: () => unknown, want: string, re?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MimicError, `not a MimicError: ${String(err)}`);
    assert.equal(err.code, want, err.message);
    if (re) assert.match(err.message, re);
    return true;
  });
}

test('bad arguments give typed errors that name the argument', async () => {
  const p = () => [new Float32Array(4), new Float32Array(2)];
  const mk = (o: Record<string, unknown>) => () => Optimizer.create({ kind: 'adam', params: p(), ...o } as OptimizerOptions);
  code(mk({ kind: 'lion' }), 'E_INVALID_ARGUMENT', /kind/);
  code(mk({ lr: -1 }), 'E_INVALID_ARGUMENT', /lr must be >= 0/);
  code(mk({ lr: NaN }), 'E_NON_FINITE', /lr/);
  code(mk({ betas: [0.9, 1] }), 'E_INVALID_ARGUMENT', /betas\[1\]/);
  code(mk({ betas: [-0.1, 0.9] }), 'E_INVALID_ARGUMENT', /betas\[0\]/);
  code(mk({ betas: [0.9] }), 'E_INVALID_ARGUMENT', /betas/);
  code(mk({ eps: Infinity }), 'E_NON_FINITE', /eps/);
  code(mk({ weightDecay: -1e-4 }), 'E_INVALID_ARGUMENT', /weightDecay/);
  code(mk({ momentum: 0.9 }), 'E_INVALID_ARGUMENT', /unknown option 'momentum'/);
  code(mk({ params: [new Float64Array(3)] }), 'E_DTYPE', /params\[0\]/);
  code(mk({ params: 'x' }), 'E_INVALID_ARGUMENT', /params/);
  code(mk({ groups: [{ params: [0] }] }), 'E_INVALID_ARGUMENT', /params\[1\] is in none/);
  code(mk({ groups: [{ params: [0, 1] }, { params: [1] }] }), 'E_INVALID_ARGUMENT', /groups\[1\]\.params\[0\].*already/);
  code(mk({ groups: [{ params: [0, 5] }] }), 'E_INVALID_ARGUMENT', /groups\[0\]\.params\[1\]/);
  code(mk({ groups: [{ params: [0, 1], lr: -2 }] }), 'E_INVALID_ARGUMENT', /groups\[0\]\.lr/);
  code(() => Optimizer.create({ kind: 'sgd', params: p() } as unknown as OptimizerOptions), 'E_INVALID_ARGUMENT', /lr is required/);
  code(() => Optimizer.create({ kind: 'sgd', lr: 0.1, nesterov: true, params: p() }), 'E_INVALID_ARGUMENT', /nesterov/);
  code(() => Optimizer.create({ kind: 'sgd', lr: 0.1, momentum: -1, params: p() }), 'E_INVALID_ARGUMENT', /momentum/);

  const params = p();
  const opt = Optimizer.create({ kind: 'adam', params });
  code(() => opt.step([new Float32Array(4)]), 'E_SHAPE_MISMATCH', /grads has 1 arrays/);
  code(() => opt.step([new Float32Array(4), new Float32Array(3)]), 'E_SHAPE_MISMATCH', /grads\[1\] has 3 elements/);
  code(() => opt.step([new Float32Array(4), new Float64Array(2)] as unknown as Float32Array[]), 'E_DTYPE', /grads\[1\]/);
  code(() => opt.setLr(-0.1), 'E_INVALID_ARGUMENT', /lr/);
  code(() => opt.setLr(NaN), 'E_NON_FINITE', /lr/);
  code(() => opt.setLr(0.1, 3), 'E_INVALID_ARGUMENT', /group 3/);
  assert.equal(opt.stepCount, 0, 'failed calls leave the optimiser untouched');

  const pending = opt.stepAsync([new Float32Array(4), new Float32Array(2)]);
  code(() => opt.step([new Float32Array(4), new Float32Array(2)]), 'E_INVALID_ARGUMENT', /still running/);
  await pending;
  assert.equal(opt.stepCount, 1);

  const good = opt.saveState();
  code(() => opt.loadState({ ...good, kind: 'sgd' }), 'E_INVALID_ARGUMENT', /kind/);
  code(() => opt.loadState({ ...good, state: new Float32Array(3) }), 'E_SHAPE_MISMATCH', /state has 3 elements/);
  code(() => opt.loadState({ ...good, sizes: [4, 3] }), 'E_SHAPE_MISMATCH', /sizes/);
  code(() => opt.loadState({ ...good, slots: ['exp_avg'] }), 'E_SHAPE_MISMATCH', /slots/);
  const nan = good.state.slice();
  nan[7] = NaN;
  code(() => opt.loadState({ ...good, step: 9, state: nan }), 'E_NON_FINITE', /exp_avg_sq of parameter 0 has a NaN or Inf at element 3/);
  const neg = good.state.slice();
  neg[4] = -1;
  code(() => opt.loadState({ ...good, state: neg }), 'E_INVALID_ARGUMENT', /exp_avg_sq of parameter 0 is negative/);
  code(() => opt.loadState({ ...good, step: -1 }), 'E_INVALID_ARGUMENT', /step/);
  code(() => opt.loadState({ ...good, groups: [{ ...good.groups[0], lr: -1 }] }), 'E_INVALID_ARGUMENT', /groups\[0\]\.lr/);
  assert.equal(opt.stepCount, 1, 'a rejected load leaves the optimiser untouched');
  assert.deepEqual(opt.saveState().state, good.state);

  // A detached parameter buffer is caught at the next step.
  const q = [new Float32Array(8)];
  const o2 = Optimizer.create({ kind: 'sgd', lr: 0.1, params: q });
  structuredClone(q[0].buffer, { transfer: [q[0].buffer] });
  code(() => o2.step([new Float32Array(8)]), 'E_SHAPE_MISMATCH', /params\[0\] now has 0 elements/);
});
