/**
 * `runServe(config)`: the running server's owner. It loads a bundle (or builds/caches the demo
 * bundle, imported lazily, when no model is configured; with `--redis URL --model NAME`, whatever
 * version the registry names), serves it over gRPC and HTTP with hot reload and the live-stats
 * loop until SIGTERM/SIGINT, then shuts down gracefully (readiness false, in-flight requests
 * finish). One pino logger is created here and passed down (fastify gets the same instance); the
 * ready line carries the ports as fields (`grpcPort`, `httpPort`).
 */
import { loadBundle } from '../bundle/load.js';
import type { ServeConfig } from '../config/config.js';
import type { AdminHooks } from '../server/http-server.js';
import { servingModelFromBundle } from '../service/model.js';
import { createLogger, type Logger } from '../util/log.js';
import { redactUrl } from '../util/redact.js';
import { createServer, type RunningServer } from './create-server.js';
import { adminHooks, type HotReload, startHotReload } from './hot-reload.js';
import { startLiveStats } from './live-stats.js';

/**
 * File mode start-up. A function of its own on purpose: a local of runServe (suspended until the
 * signal) would pin the first bundle's table and vocabulary for the whole run, so every hot reload
 * kept one model too many (issue 6: arrayBuffers 54.8 -> 108.7 MiB after the first reload with a
 * 53.5 MiB model, and staying there, forced GC).
 */
async function serveDirectory(config: ServeConfig, admin: { admin?: AdminHooks }, log: Logger): Promise<{ server: RunningServer; hot: HotReload }> {
  const dir = config.model ?? (await (await import('./demo-bundle.js')).ensureDemoBundle(config.demoDir, log));
  const bundle = await loadBundle(dir, { verify: true });
  const server = await createServer(config, { model: servingModelFromBundle(bundle), ...admin, log });
  const hot = startHotReload({ server, initial: { version: bundle.manifest.model.version, location: dir }, metrics: server.metrics.registry, sighup: true, log });
  const info = server.service.getModel();
  log.info(
    {
      model: bundle.manifest.model.name,
      version: info.version,
      features: info.featureCount,
      d: info.d,
      fields: info.fields.length,
      provider: info.provider,
      workers: config.workers,
      host: config.host,
      grpcPort: server.grpcPort,
      httpPort: server.httpPort,
    },
    'serving',
  );
  return { server, hot };
}

/** Runs the server until a signal; resolves after the graceful shutdown. */
export async function runServe(config: ServeConfig, log: Logger = createLogger()): Promise<void> {
  // Registry mode (--redis URL with --model NAME): listen at once, not ready; the registry's current
  // version is loaded by the first catch-up (retried with backoff while Redis is down), then
  // announcements are followed.
  const link = config.redisUrl !== null && config.model !== null ? { url: config.redisUrl, model: config.model } : null;
  let hot: HotReload | null = null;
  const admin = config.adminToken !== null ? { admin: adminHooks(config.adminToken, () => hot) } : {};
  let server: RunningServer;
  if (link !== null) {
    server = await createServer(config, { ...admin, log });
    log.info(
      { model: link.model, redis: redactUrl(link.url), ready: false, host: config.host, grpcPort: server.grpcPort, httpPort: server.httpPort },
      'waiting for the registry to name a version (not ready until it is loaded)',
    );
    hot = startHotReload({ server, metrics: server.metrics.registry, registry: link, sighup: true, log });
  } else {
    ({ server, hot } = await serveDirectory(config, admin, log));
  }
  const stats = startLiveStats({ current: () => server.service.live, redis: hot.redis, flushMs: config.statsFlushMs, metrics: server.metrics.registry, log });
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'signal again: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'draining (readiness false, in-flight requests finish)');
      const h = hot;
      hot = null;
      stats
        .close()
        .then(() => h?.close())
        .then(() => server.close())
        .then(resolve, (e: unknown) => {
          log.error({ error: e instanceof Error ? e.message : String(e) }, 'shutdown error');
          resolve();
        });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  log.info('stopped');
}
