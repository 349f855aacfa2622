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
  assert.deepEqual(Object.keys(entry).sort(), Object.keys(lib).sort(), 'add the new names to index.js');
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
