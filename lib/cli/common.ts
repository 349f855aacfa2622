/** Small helpers shared by the CLI commands. */
import type { Command } from 'commander';
import { MimicError } from '../errors.ts';

export function parseList(v: string): number[] {
  return v.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0) throw new MimicError('E_INVALID_ARGUMENT', `'${s}' is not a positive number`);
    return n;
  });
}

export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Exit codes of a run stopped by a signal: 128 + the signal's number, as shells report them. */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Runs a long job that stops cleanly on Ctrl-C, or SIGTERM from a scheduler / timeout / docker stop: the signal
 * aborts the job (which keeps its last checkpoint, if it has one), its E_ABORTED message is printed and the exit
 * code is 130 / 143. A second signal leaves at once. `stopping` is printed when the first signal arrives.
 */
export async function withInterrupt<T>(run: (signal: AbortSignal) => Promise<T>, stopping = 'stopping...'): Promise<T | undefined> {
  const ac = new AbortController();
  let code = SIGNAL_EXIT.SIGINT;
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    if (ac.signal.aborted) process.exit(code);
    code = SIGNAL_EXIT[sig];
    process.stderr.write(`\nmimic: ${sig === 'SIGINT' ? 'interrupted' : sig}, ${stopping}\n`);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await run(ac.signal);
  } catch (err) {
    if (err instanceof MimicError && err.code === 'E_ABORTED') {
      process.stderr.write(`mimic: ${err.message}\n`);
      process.exitCode = code;
      return undefined;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * A split option as openDataset takes it: `split` when given on the command line (a single file, which holds one
 * split, then refuses it instead of ignoring it), else the option's default, for folders only.
 */
export function splitOptions(cmd: Command, key: string): { split?: string; defaultSplit: string } {
  const value = String(cmd.getOptionValue(key));
  return cmd.getOptionValueSource(key) === 'cli' ? { split: value, defaultSplit: value } : { defaultSplit: value };
}
