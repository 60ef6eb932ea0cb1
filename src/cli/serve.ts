/**
 * `mpe serve [--model DIR] [flags]`: loads a bundle (or builds/caches the demo bundle when no
 * model is configured; with `--redis URL --model NAME`, whatever version the registry names) and serves it over gRPC and HTTP until SIGTERM/SIGINT, then shuts down
 * gracefully (readiness false, in-flight requests finish) and exits 0.
 * Flags mirror the MPE_* environment variables (see docs/config.md); flags win.
 */
import type { Command } from 'commander';
import { loadBundle } from '../bundle/load.js';
import { CONFIG_OPTIONS, configFlagsFromCli, resolveConfig, type ServeConfig } from '../config/config.js';
import { createServer, type RunningServer } from '../server/create-server.js';
import { servingModelFromBundle } from '../service/model.js';
import { adminHooks, type HotReload, startHotReload } from '../registry/hot-reload.js';
import type { AdminHooks } from '../server/http-server.js';
import { startLiveStats } from '../stats/live-stats.js';
import { redactUrl } from '../util/redact.js';
import { ensureDemoBundle } from './demo-bundle.js';

const log = (line: string): void => {
  process.stderr.write(`mpe serve: ${line}\n`);
};

/**
 * File mode start-up. A function of its own on purpose: a local of runServe (suspended until the
 * signal) would pin the first bundle's table and vocabulary for the whole run, so every hot reload
 * kept one model too many (issue 6: arrayBuffers 54.8 -> 108.7 MiB after the first reload with a
 * 53.5 MiB model, and staying there, forced GC).
 */
async function serveDirectory(config: ServeConfig, admin: { admin?: AdminHooks }): Promise<{ server: RunningServer; hot: HotReload }> {
  const dir = config.model ?? (await ensureDemoBundle(config.demoDir, log));
  const bundle = await loadBundle(dir, { verify: true });
  const server = await createServer(config, { model: servingModelFromBundle(bundle), ...admin });
  const hot = startHotReload({ server, initial: { version: bundle.manifest.model.version, location: dir }, metrics: server.metrics.registry, sighup: true });
  const info = server.service.getModel();
  log(
    `model ${bundle.manifest.model.name} ${info.version} (${info.featureCount} features, d=${info.d}, ${info.fields.length} fields) ` +
      `on ${info.provider} with ${config.workers} workers; gRPC ${config.host}:${server.grpcPort}, HTTP ${config.host}:${server.httpPort}`,
  );
  return { server, hot };
}

/** Runs the server until a signal; resolves after the graceful shutdown. */
export async function runServe(config: ServeConfig): Promise<void> {
  // Registry mode (--redis URL with --model NAME): listen at once, not ready; the registry's current
  // version is loaded by the first catch-up (retried with backoff while Redis is down), then
  // announcements are followed.
  const link = config.redisUrl !== null && config.model !== null ? { url: config.redisUrl, model: config.model } : null;
  let hot: HotReload | null = null;
  const admin = config.adminToken !== null ? { admin: adminHooks(config.adminToken, () => hot) } : {};
  let server: RunningServer;
  if (link !== null) {
    server = await createServer(config, admin);
    log(`waiting for model ${link.model} from the registry at ${redactUrl(link.url)} (not ready until it is loaded); gRPC ${config.host}:${server.grpcPort}, HTTP ${config.host}:${server.httpPort}`);
    hot = startHotReload({ server, metrics: server.metrics.registry, registry: link, sighup: true });
  } else {
    ({ server, hot } = await serveDirectory(config, admin));
  }
  const stats = startLiveStats({ current: () => server.service.live, redis: hot.redis, flushMs: config.statsFlushMs, metrics: server.metrics.registry });
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
      stats
        .close()
        .then(() => h?.close())
        .then(() => server.close())
        .then(resolve, (e: unknown) => {
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
  for (const o of CONFIG_OPTIONS) {
    cmd.option(`--${o.flag} <value>`, `${o.description} [env ${o.env}]`);
    for (const a of o.aliases ?? []) cmd.option(`--${a} <value>`, `same as --${o.flag}`);
  }
  cmd.action(async (flags: Record<string, unknown>) => {
    await runServe(resolveConfig(configFlagsFromCli(flags)));
    process.exit(0);
  });
}
