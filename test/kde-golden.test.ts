// Golden values of kde-mi.md section 4 (G1-G4), on every engine this machine has.
import { test } from 'node:test';
import { estimateMI, buildInfo, type EstimateMIOptions, type Quantity } from '../lib/index.ts';
import { assertClose } from './helpers.ts';

const ALL: Quantity[] = ['I_TZ', 'I_TZ_loo', 'I_TX_up', 'I_TX_low', 'I_TY', 'H_T_up', 'HSIC'];
const info = buildInfo();

interface Engine {
  name: string;
  opts: Partial<EstimateMIOptions>;
  tol: number;
}
const engines: Engine[] = [
  { name: 'fp64 reference', opts: { precision: 'fp64' }, tol: 1e-10 },
  { name: 'cpu generic', opts: { backend: 'cpu', kernelPath: 'generic' }, tol: 2e-5 },
  ...(info.avx2 && info.fma ? [{ name: 'cpu avx2', opts: { backend: 'cpu', kernelPath: 'avx2' }, tol: 2e-5 } as Engine] : []),
  ...(info.kernelPath === 'avx512' ? [{ name: 'cpu avx512', opts: { backend: 'cpu', kernelPath: 'avx512' }, tol: 2e-5 } as Engine] : []),
  { name: `cpu ${info.kernelPath} tile 3`, opts: { backend: 'cpu', tile: 3 }, tol: 2e-5 },
];

/** G4: RNG-free, T_ij = sin(0.37 i j) (j = 1..3), Z_ik = cos(0.23 i k) (k = 2, 3), y_i = (i - 1) mod 4, two s2. */
function g4Options(n = 256): EstimateMIOptions {
  const t = new Float32Array(n * 3);
  const z = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 1; i <= n; ++i) {
    for (let j = 1; j <= 3; ++j) t[(i - 1) * 3 + j - 1] = Math.sin(0.37 * i * j);
    for (let k = 2; k <= 3; ++k) z[(i - 1) * 2 + k - 2] = Math.cos(0.23 * i * k);
    y[i - 1] = (i - 1) % 4;
  }
  return {
    layers: [{ data: t, rows: n, cols: 3 }],
    features: { data: z, rows: n, cols: 2 },
    labels: y,
    bandwidth: { mode: 'absolute', values: [0.5, 0.05] },
    quantities: ALL,
  };
}

for (const e of engines) {
  test(`G1-G3 (4 points in 1-d) on ${e.name}`, async () => {
    const est = await estimateMI({
      layers: [{ data: new Float32Array([0, 1, 2, 3]), rows: 4, cols: 1 }],
      features: { data: new Float32Array([0, 1, 3, 2]), rows: 4, cols: 1 },
      labels: [0, 0, 1, 1],
      bandwidth: { mode: 'absolute', values: [1] },
      quantities: ALL,
      ...e.opts,
    });
    const v = est.layers[0].values;
    assertClose(v.I_TX_up![0], 0.678770806821, e.tol, 'G1 I_up');
    assertClose(v.I_TX_low![0], 0.261365235529, e.tol, 'G1 I_low');
    assertClose(v.H_T_up![0], 2.097709340026, e.tol, 'G1 H_KL');
    assertClose(v.I_TZ![0], 0.343050895014, e.tol, 'G2 I(T;Z)');
    assertClose(v.I_TZ_loo![0], 0.280074274632, e.tol, 'G2 I(T;Z) LOO');
    assertClose(v.HSIC![0], 0.177839931585, e.tol, 'G2 HSIC');
    assertClose(v.I_TY![0], 0.459700610441, e.tol, 'G3 I(T;Y)');
  });

  test(`G4 (sin/cos, N = 256, two bandwidths in one pass) on ${e.name}`, async () => {
    const est = await estimateMI({ ...g4Options(), ...e.opts });
    const v = est.layers[0].values;
    // The golden values were computed from float64 inputs; ours are float32-rounded sines, which moves the
    // estimates by ~2e-9: the fp64 reference is held to 1e-8 here.
    const tol = Math.max(e.tol, 1e-8);
    assertClose(v.I_TX_up![0], 1.733621897973, tol, 'G4 I_up s2=0.5');
    assertClose(v.I_TX_low![0], 0.650582767266, tol, 'G4 I_low s2=0.5');
    assertClose(v.I_TZ![0], 0.011213532379, tol, 'G4 I(T;Z) s2=0.5');
    assertClose(v.I_TZ_loo![0], -0.033751513026, tol, 'G4 LOO s2=0.5');
    assertClose(v.I_TY![0], 0.002951828787, tol, 'G4 I(T;Y) s2=0.5');
    assertClose(v.HSIC![0], 6.392246276e-4, tol, 'G4 HSIC s2=0.5');
    assertClose(v.I_TX_up![1], 2.89013516354, tol, 'G4 I_up s2=0.05');
    assertClose(v.I_TX_low![1], 2.41793717501, tol, 'G4 I_low s2=0.05');
    assertClose(v.I_TZ![1], 0.456906113784, tol, 'G4 I(T;Z) s2=0.05');
    assertClose(v.I_TZ_loo![1], -0.394494590501, tol, 'G4 LOO s2=0.05');
  });
}

test('CUDA engine on G4', { skip: info.gpuAvailable ? false : `no GPU here (${info.cudaMessage})` }, async () => {
  const est = await estimateMI({ ...g4Options(), backend: 'cuda' });
  const v = est.layers[0].values;
  assertClose(v.I_TX_up![0], 1.733621897973, 5e-5, 'cuda G4 I_up');
  assertClose(v.I_TZ![1], 0.456906113784, 5e-5, 'cuda G4 I(T;Z)');
  assertClose(v.I_TZ_loo![1], -0.394494590501, 5e-5, 'cuda G4 LOO');
  assertClose(v.I_TY![0], 0.002951828787, 5e-5, 'cuda G4 I(T;Y)');
  assertClose(v.HSIC![0], 6.392246276e-4, 5e-5, 'cuda G4 HSIC');
});
