// Docker HEALTHCHECK: GET /healthz on this container's HTTP port; exit 0 when it answers 200.
// Runs with node itself (the image has no curl) and resolves the port and host through the
// service's own config module, so it follows MPE_HTTP_PORT / MPE_HOST exactly as `mpe serve`
// does. In containers, configure the service by environment (not by flags) for that reason.
import { resolveConfig } from '../../dist/src/config/config.js';

const TIMEOUT_MS = 2500; // below the HEALTHCHECK --timeout of 3 s

const cfg = resolveConfig({}, process.env);
// A wildcard bind is reached on loopback; a specific address on that address.
const wildcard = cfg.host === '0.0.0.0' || cfg.host === '::' || cfg.host === '';
const host = wildcard ? '127.0.0.1' : cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
try {
  const res = await fetch(`http://${host}:${cfg.httpPort}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  process.exit(res.status === 200 ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
