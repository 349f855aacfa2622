/** The `mimic` command line. Data goes to stdout (--json for machines), progress and logs to stderr. */
import { Command, CommanderError } from 'commander';
import { MimicError } from './errors.ts';
import { registerInfo } from './cli/info.ts';
import { registerMiArrays } from './cli/mi-arrays.ts';
import { registerLayers } from './cli/layers.ts';
import { registerMi } from './cli/mi.ts';
import { registerDemo } from './cli/demo.ts';
import { registerClean } from './cli/clean.ts';
import { registerPretrain } from './cli/pretrain.ts';
import { registerAttack } from './cli/attack.ts';
import { registerEval } from './cli/eval.ts';
import { toolInfo } from './report/provenance.ts';

const EXIT_USAGE = 2;
const EXIT_INPUT = 3;
const EXIT_NATIVE = 4;

const program = new Command();
program
  .name('mimic')
  .description('Backdoor removal for self-supervised image encoders (MIMIC) and batched KDE mutual information.')
  // the version text asks git for the commit: only when it is asked for, not at every start
  .option('-V, --version', 'print the version (and the git commit of a checkout)')
  .on('option:version', () => {
    const t = toolInfo();
    process.stdout.write(`${t.version}${t.commit ? ` (${t.commit})` : ''}\n`);
    process.exit(0);
  })
  .showHelpAfterError()
  .exitOverride(); // usage errors throw (exit code 2 below) instead of exiting inside commander

registerInfo(program);
registerMiArrays(program);
registerLayers(program);
registerMi(program);
registerDemo(program);
registerClean(program);
registerPretrain(program);
registerAttack(program);
registerEval(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed the message (or the help / version text)
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    process.exit();
  }
  const e = err as MimicError;
  process.stderr.write(`mimic: ${e.code ? `[${e.code}] ` : ''}${e.message}\n`);
  const code = e.code;
  process.exitCode =
    code === 'E_FILE' || code === 'E_FORMAT' || code === 'E_ONNX' || code === 'E_SHAPE_MISMATCH' || code === 'E_DTYPE' || code === 'E_NON_FINITE'
      ? EXIT_INPUT
      : code === 'E_NATIVE_LOAD' || code === 'E_CUDA' || code === 'E_INTERNAL'
        ? EXIT_NATIVE
        : EXIT_USAGE;
}
