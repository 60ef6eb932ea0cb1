/**
 * The `mpe` command. Each subcommand lives in its own file (`src/cli/<name>.ts`) exporting
 * `register(program)`; add one line to COMMANDS below to add a command.
 * A command loads only what it runs: `mpe <name>` imports `<name>.ts` alone, and `mpe --help`
 * imports none (measured in docs/architecture.md: every command imported every subcommand,
 * echarts and onnxruntime included, before).
 * Errors: `error <CODE>: message` on stderr, exit 1; usage errors exit 2.
 */
import { Command, CommanderError } from 'commander';
import { isMpeError } from '../errors.js';

interface CommandEntry {
  /** One line for `mpe --help`; the module's own description shows in `mpe <name> --help`. */
  readonly summary: string;
  readonly load: () => Promise<{ register(program: Command): void }>;
}

const COMMANDS: Readonly<Record<string, CommandEntry>> = Object.freeze({
  inspect: { summary: 'describe a model bundle: bit widths, bytes per section, compression ratios, checksums', load: () => import('./inspect.js') },
  compare: { summary: 'train several methods on the same data and split, and write a comparison report', load: () => import('./compare.js') },
  quantize: { summary: 'row-wise int8/int4 quantization of an fp32 bundle', load: () => import('./quantize.js') },
  serve: { summary: 'serve a bundle over gRPC and HTTP (no --model: build and serve the demo bundle)', load: () => import('./serve.js') },
  client: { summary: 'tiny gRPC client for a running `mpe serve`', load: () => import('./client.js') },
  synth: { summary: 'write a synthetic Criteo-like data set with a planted click model', load: () => import('./synth.js') },
  train: { summary: 'train a CTR model (fp32 embeddings, or a method such as mpe) and write a bundle', load: () => import('./train.js') },
  publish: { summary: 'publish a bundle as a new version in the Redis registry and announce it to the replicas', load: () => import('./publish.js') },
  rollback: { summary: 'make an already published version current again', load: () => import('./rollback.js') },
  status: { summary: 'show the replicas of a model: version, provider, uptime, request rate, flags', load: () => import('./status.js') },
  drift: { summary: 'report pruned, OOV and misplaced-frequent shares of live traffic against the bundle groups', load: () => import('./drift.js') },
  import: { summary: 'build a bundle from a PyTorch export (tools/torch/export.py)', load: () => import('./import.js') },
});

const program = new Command('mpe').description('train, bit-pack and serve Mixed-Precision Embedding tables').exitOverride();

try {
  // `mpe NAME ...` and `mpe help NAME`: load that command only; otherwise list them all.
  const argv = process.argv.slice(2);
  const name = argv[0] === 'help' ? argv[1] : argv[0];
  const entry = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name]! : null;
  if (entry !== null) (await entry.load()).register(program);
  else for (const [n, c] of Object.entries(COMMANDS)) program.command(n).description(c.summary);
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
