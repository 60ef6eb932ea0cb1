/**
 * The `mpe` command. Each subcommand lives in its own file (`src/cli/<name>.ts`) exporting
 * `register(program)`; add one line below to add a command.
 * Errors: `error <CODE>: message` on stderr, exit 1; usage errors exit 2.
 */
import { Command, CommanderError } from 'commander';
import { isMpeError } from '../errors.js';
import { register as registerCompare } from './compare.js';
import { register as registerInspect } from './inspect.js';
import { register as registerQuantize } from './quantize.js';
import { register as registerClient } from './client.js';
import { register as registerServe } from './serve.js';
import { register as registerSynth } from './synth.js';
import { register as registerTrain } from './train.js';
import { register as registerDrift } from './drift.js';
import { register as registerPublish } from './publish.js';
import { register as registerRollback } from './rollback.js';
import { register as registerStatus } from './status.js';
import { register as registerImport } from './import.js';

const program = new Command('mpe').description('train, bit-pack and serve Mixed-Precision Embedding tables').exitOverride();

registerInspect(program);
registerCompare(program);
registerQuantize(program);
registerServe(program);
registerClient(program);
registerSynth(program);
registerTrain(program);
registerPublish(program);
registerRollback(program);
registerStatus(program);
registerDrift(program);
registerImport(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander has printed the message already; help and --version exit 0.
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else if (isMpeError(e)) {
    process.stderr.write(`error ${e.code}: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`error MPE_ERR_INTERNAL: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
}
