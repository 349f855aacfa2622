// SGEMM through the addon against a float64 reference on random shapes (fresh seeds), every transpose, alpha/beta,
// both kernel paths and 1-2 threads; argument errors are typed and name the argument.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildInfo, MimicError, sgemm, sgemmSync, type KernelPathName } from '../lib/index.ts';
import { freshSeed, gaussian, mulberry32 } from './helpers.ts';

function refGemm(ta: boolean, tb: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, lda: number, b: Float32Array, ldb: number, beta: number, c: Float32Array, ldc: number) {
  const out = new Float64Array(m * n);
  const scale = new Float64Array(m * n); // sum |a||b| + |beta c|: the natural error scale
  for (let i = 0; i < m; ++i)
    for (let j = 0; j < n; ++j) {
      let acc = 0, s = 0;
      for (let p = 0; p < k; ++p) {
        const av = ta ? a[p * lda + i] : a[i * lda + p];
        const bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
        s += Math.abs(av * bv);
      }
      const cv = beta === 0 ? 0 : beta * c[i * ldc + j];
      out[i * n + j] = alpha * acc + cv;
      scale[i * n + j] = Math.abs(alpha) * s + Math.abs(cv);
    }
  return { out, scale };
}

const info = buildInfo();
const paths: KernelPathName[] = ['generic', ...(info.avx2 && info.fma ? (['avx2'] as const) : []), ...(info.kernelPath === 'avx512' ? (['avx512'] as const) : [])];
const shapes: [number, number, number][] = [
  [1, 1, 1], [7, 13, 29], [31, 37, 1], [1, 64, 17], [64, 1, 33], [5, 3, 5000], [97, 101, 103], [130, 70, 300], [6, 16, 256], [200, 260, 64],
];

for (const path of paths)
  test(`sgemm ${path}: random shapes, all transposes, alpha/beta, 1 and 2 threads`, async () => {
    const seed = freshSeed(`sgemm ${path}`);
    const rng = mulberry32(seed);
    let worst = 0;
    for (const [si, [m, n, k]] of shapes.entries())
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          const pad = Math.floor(rng() * 3);
          const lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
          const a = gaussian((ta ? k : m) * lda, seed + si * 4 + 1);
          const b = gaussian((tb ? n : k) * ldb, seed + si * 4 + 2);
          const c0 = gaussian(m * ldc, seed + si * 4 + 3);
          const alpha = [1, -0.5, 2.25][si % 3], beta = [0, 1, 0.75][(si + (ta ? 1 : 0)) % 3];
          if (beta === 0) c0.fill(NaN); // beta = 0 must ignore C, NaN included
          const { out, scale } = refGemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc);
          for (const threads of [1, 2]) {
            const c = c0.slice();
            const args = { transA: ta, transB: tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, path };
            if (threads === 1) sgemmSync(args);
            else await sgemm(args);
            for (let i = 0; i < m; ++i) {
              for (let j = 0; j < n; ++j) {
                const err = Math.abs(c[i * ldc + j] - out[i * n + j]) / (scale[i * n + j] + 1e-30);
                worst = Math.max(worst, err);
                assert.ok(err < 1e-5, `${m}x${n}x${k} ta=${ta} tb=${tb} threads=${threads}: C[${i},${j}] = ${c[i * ldc + j]}, want ${out[i * n + j]}`);
              }
              for (let j = n; j < ldc; ++j) assert.ok(Object.is(c[i * ldc + j], c0[i * ldc + j]), 'padding columns of C must stay untouched');
            }
          }
        }
    process.stderr.write(`# sgemm ${path}: worst relative error ${worst.toExponential(2)}\n`);
  });

test('sgemm rejects bad arguments with typed errors naming them', () => {
  const a = new Float32Array(6), b = new Float32Array(6), c = new Float32Array(4);
  const expect = (args: object, code: string, re: RegExp) =>
    assert.throws(() => sgemmSync(args as never), (e: unknown) => e instanceof MimicError && e.code === code && re.test(e.message));
  expect({ m: 2, n: 2, k: 3, a, b, c, lda: 2 }, 'E_INVALID_ARGUMENT', /lda/);
  expect({ m: 2, n: 2, k: 3, a: new Float32Array(5), b, c }, 'E_SHAPE_MISMATCH', /a has 5 elements/);
  expect({ m: 2, n: 2, k: 3, a, b: new Float64Array(6), c }, 'E_DTYPE', /sgemm\.b must be a Float32Array/);
  expect({ m: -1, n: 2, k: 3, a, b, c }, 'E_INVALID_ARGUMENT', /sgemm\.m/);
  expect({ m: 2, n: 2, k: 3, a, b, c, alpha: NaN }, 'E_NON_FINITE', /alpha/);
  expect({ m: 2, n: 2, k: 3, a, b, c, path: 'fast' }, 'E_INVALID_ARGUMENT', /sgemm\.path/);
});
