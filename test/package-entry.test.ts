// The package as a plain-Node application imports it: `import { ... } from 'mimic-engine'` resolves to index.js,
// which loads the TypeScript sources through tsx's scoped loader and re-exports lib/index.ts's API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

test('index.js exports exactly the names of lib/index.ts', async () => {
  const entryUrl = new URL('../index.js', import.meta.url).href; // a plain JS module, untyped
  const entry: Record<string, unknown> = await import(entryUrl);
  const lib = await import('../lib/index.ts');
  assert.deepEqual(Object.keys(entry).sort(), Object.keys(lib).sort(), 'index.js is out of date: npm run entry');
  assert.equal(typeof entry.estimateMI, 'function');
});

test('a plain-Node ES module application imports the package by name and runs an estimate', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mimic-consumer-'));
  try {
    await mkdir(join(dir, 'node_modules'));
    await symlink(root, join(dir, 'node_modules', 'mimic-engine'), 'dir');
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }');
    await writeFile(join(dir, 'app.js'), [
      "import { estimateMI, MimicError } from 'mimic-engine';",
      'const x = Float32Array.from({ length: 100 * 4 }, (_, i) => Math.sin(i * 1.7));',
      "const est = await estimateMI({ layers: [{ data: x, rows: 100, cols: 4, name: 'x' }], features: { data: x, rows: 100, cols: 4 }, threads: 1 });",
      'let code = null;',
      'try { await estimateMI({ layers: [] }); } catch (e) { code = e instanceof MimicError ? e.code : String(e); }',
      'console.log(JSON.stringify({ lnN: est.lnN, first: est.layers[0].values.I_TZ[0], code }));',
    ].join('\n'));
    const r = spawnSync(process.execPath, ['app.js'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.ok(Math.abs(out.lnN - Math.log(100)) < 1e-9);
    assert.ok(out.first > 0 && out.first <= Math.log(100) + 1e-9, `I(T;Z) of a layer with itself: ${out.first}`);
    assert.equal(out.code, 'E_INVALID_ARGUMENT');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a TypeScript application type-checks against the generated declarations (types/, npm run types)', async () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // regenerate (prepare does it on install): the declarations of the sources as they are now
  const gen = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.types.json')], { encoding: 'utf8' });
  assert.equal(gen.status, 0, gen.stdout + gen.stderr);
  const dir = await mkdtemp(join(tmpdir(), 'mimic-ts-consumer-'));
  try {
    await mkdir(join(dir, 'node_modules'));
    await symlink(root, join(dir, 'node_modules', 'mimic-engine'), 'dir');
    await symlink(join(root, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir');
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }');
    // skipLibCheck: onnx-proto's own declarations do not compile without it (as in this project's tsconfig)
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['app.ts'] }));
    const app = [
      "import { estimateMI, clean, MimicError, type MIEstimate, type CleanOptions } from 'mimic-engine';",
      'const est: MIEstimate = await estimateMI({ layers: [{ data: new Float32Array(40), rows: 10, cols: 4 }], threads: 1 });',
      "const opts: CleanOptions = { teacher: 't.onnx', data: 'd', out: 's.onnx', epochs: 3 };",
      'export const n: number = est.lnN;',
      'export { clean, MimicError, opts };',
    ];
    const check = async (lines: string[]) => {
      await writeFile(join(dir, 'app.ts'), lines.join('\n'));
      return spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    };
    const ok = await check(app);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    // the types are real, not any: a wrong use is reported
    const bad = await check([...app, "export const wrong: string = est.lnN;", "const typo: CleanOptions = { teacher: 't', data: 'd', out: 'o', epoch: 3 };", 'export { typo };']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stdout, /app\.ts\(6,14\): error TS2322: Type 'number' is not assignable to type 'string'/);
    assert.match(bad.stdout, /'epoch' does not exist in type 'CleanOptions'/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
