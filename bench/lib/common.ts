/** Shared benchmark plumbing: machine description, timing with tinybench, peers run as child processes. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { buildInfo } from '../../lib/index.ts';

// Debian's python (numpy on OpenBLAS, torch), not the pyenv one on PATH; MIMIC_PEER_PYTHON points elsewhere
// (e.g. a venv with CUDA torch on a GPU machine).
export const PYTHON = process.env.MIMIC_PEER_PYTHON ?? '/usr/bin/python3';
export const PEERS = join(import.meta.dirname, '..', 'peers');

export function machine(): string {
  let model = cpus()[0]?.model ?? 'unknown CPU';
  try {
    const lscpu = spawnSync('lscpu', { encoding: 'utf8' }).stdout;
    model = /Model name:\s*(.+)/.exec(lscpu)?.[1]?.trim() ?? model;
  } catch {
    /* lscpu missing: keep os.cpus() */
  }
  const flags = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const isa = ['avx2', 'fma', 'avx512f'].filter((f) => new RegExp(`\\b${f}\\b`).test(flags)).join('+');
  const info = buildInfo();
  return `${model}, ${cpus().length} vCPUs (${isa}), Node ${process.version}, engine kernels ${info.kernelPath}` +
    (info.gpuAvailable ? `, GPU ${info.gpuName}` : '');
}

export interface Timing {
  median: number;
  min: number;
  max: number;
  samples: number;
}

/** Median / min / max seconds of fn over `iterations` runs after `warmup` runs (tinybench). */
export async function time(name: string, fn: () => unknown | Promise<unknown>, iterations: number, warmup = 1): Promise<Timing> {
  const bench = new Bench({ iterations, time: 0, warmupIterations: warmup, warmupTime: 0, throws: true });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (!r || !('latency' in r)) throw new Error(`benchmark ${name} produced no result`);
  const lat = r.latency;
  return { median: (lat.p50 ?? lat.mean) / 1000, min: lat.min / 1000, max: lat.max / 1000, samples: lat.samples?.length ?? iterations };
}

export type PeerResult = { ok: true; data: Record<string, unknown> } | { ok: false; why: string };

/** Runs a peer script with Debian's python; "peer not installed" when the library is missing. */
export function runPeer(script: string, args: string[], env: Record<string, string>, module: string): PeerResult {
  if (!existsSync(PYTHON)) return { ok: false, why: `peer not installed (${PYTHON} missing)` };
  const probe = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' });
  if (probe.status !== 0) return { ok: false, why: `peer not installed (${module} missing for ${PYTHON})` };
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  delete childEnv.OPENBLAS_CORETYPE; // they force an old, slower kernel on current OpenBLAS (env docs)
  delete childEnv.OPENBLAS_L2_SIZE;
  const r = spawnSync(PYTHON, [join(PEERS, script), ...args], { encoding: 'utf8', env: childEnv, maxBuffer: 64 << 20 });
  if (r.status !== 0) return { ok: false, why: `peer failed: ${r.stderr.trim().split('\n').pop()}` };
  const out = r.stdout.trim();
  try {
    return { ok: true, data: JSON.parse(out) };
  } catch {
    return { ok: true, data: JSON.parse(out.split('\n').pop() ?? '') }; // a script that logged before its JSON line
  }
}

export function table(head: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const w = head.map((h, c) => Math.max(h.length, ...cells.map((r) => r[c].length)));
  const line = (r: string[]) => '| ' + r.map((x, c) => x.padEnd(w[c])).join(' | ') + ' |';
  return [line(head), '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|', ...cells.map(line)].join('\n');
}

export const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

/** Versions of the Python peers this machine has, for the table headers. */
export function peerVersions(): string {
  if (!existsSync(PYTHON)) return `none (${PYTHON} missing)`;
  const script =
    'import importlib\nfor m in ("numpy", "torch"):\n' +
    '    try:\n        v = importlib.import_module(m).__version__\n    except Exception:\n        v = "not installed"\n' +
    '    print(m, v)';
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8' });
  return r.status === 0 ? `${PYTHON}: ${r.stdout.trim().split('\n').join(', ')}` : `unknown (${r.stderr.trim()})`;
}
