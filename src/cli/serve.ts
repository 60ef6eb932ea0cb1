/**
 * `mpe serve [--model DIR] [flags]`: loads a bundle (or builds/caches the demo bundle when no
 * model is configured) and serves it over gRPC and HTTP until SIGTERM/SIGINT, then shuts down
 * gracefully (readiness false, in-flight requests finish) and exits 0.
 * Flags mirror the MPE_* environment variables (see docs/config.md); flags win.
 */
import type { Command } from 'commander';
import { loadBundle } from '../bundle/load.js';
import { CONFIG_OPTIONS, type ConfigFlags, resolveConfig, type ServeConfig } from '../config/config.js';
import { createServer } from '../server/create-server.js';
import { servingModelFromBundle } from '../service/model.js';
import { adminHooks, type HotReload, startHotReload, waitForCurrent } from '../registry/hot-reload.js';
import { ensureDemoBundle } from './demo-bundle.js';

const log = (line: string): void => {
  process.stderr.write(`mpe serve: ${line}\n`);
};

/** Runs the server until a signal; resolves after the graceful shutdown. */
export async function runServe(config: ServeConfig): Promise<void> {
  // Registry mode (--redis-url with --model NAME): wait for Redis and a published version, then follow announcements.
  const link = config.redisUrl !== null && config.model !== null ? { url: config.redisUrl, model: config.model } : null;
  const dir = link !== null ? (await waitForCurrent(link)).location : (config.model ?? (await ensureDemoBundle(config.demoDir, log)));
  const bundle = await loadBundle(dir, { verify: true });
  let hot: HotReload | null = null;
  const server = await createServer(config, { model: servingModelFromBundle(bundle), ...(config.adminToken !== null ? { admin: adminHooks(config.adminToken, () => hot) } : {}) });
  hot = startHotReload({ server, initial: { version: bundle.manifest.model.version, location: dir }, metrics: server.metrics.registry, registry: link, sighup: true });
  const info = server.service.getModel();
  log(
    `model ${bundle.manifest.model.name} ${info.version} (${info.featureCount} features, d=${info.d}, ${info.fields.length} fields) ` +
      `on ${info.provider} with ${config.workers} workers; gRPC ${config.host}:${server.grpcPort}, HTTP ${config.host}:${server.httpPort}`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log(`${signal}: draining (readiness false, in-flight requests finish)`);
      const h = hot;
      hot = null;
      (h?.close() ?? Promise.resolve()).then(() => server.close()).then(resolve, (e: unknown) => {
        log(`shutdown error: ${e instanceof Error ? e.message : String(e)}`);
        resolve();
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  log('stopped');
}

/** Registers the `serve` subcommand: one flag per config option. */
export function register(program: Command): void {
  const cmd = program.command('serve').description('serve a bundle over gRPC and HTTP (no --model: build and serve the demo bundle)');
  for (const o of CONFIG_OPTIONS) cmd.option(`--${o.flag} <value>`, `${o.description} [env ${o.env}]`);
  cmd.action(async (flags: ConfigFlags) => {
    await runServe(resolveConfig(flags));
    process.exit(0);
  });
}
