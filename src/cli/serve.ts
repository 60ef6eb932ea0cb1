/**
 * `mpe serve [--model DIR] [flags]`: runs the server (src/app/serve.ts) until SIGTERM/SIGINT,
 * then exits 0. Flags mirror the MPE_* environment variables (see docs/config.md); flags win.
 */
import type { Command } from 'commander';
import { CONFIG_OPTIONS, configFlagsFromCli, resolveConfig } from '../config/config.js';

/** Registers the `serve` subcommand: one flag per config option. */
export function register(program: Command): void {
  const cmd = program.command('serve').description('serve a bundle over gRPC and HTTP (no --model: build and serve the demo bundle)');
  for (const o of CONFIG_OPTIONS) {
    cmd.option(`--${o.flag} <value>`, `${o.description} [env ${o.env}]`);
    for (const a of o.aliases ?? []) cmd.option(`--${a} <value>`, `same as --${o.flag}`);
  }
  cmd.action(async (flags: Record<string, unknown>) => {
    const config = resolveConfig(configFlagsFromCli(flags));
    const { runServe } = await import('../app/serve.js');
    await runServe(config);
    process.exit(0);
  });
}
