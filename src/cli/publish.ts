/** `mpe publish DIR --redis URL --model NAME`: records the bundle as a version and makes it current (announced to every replica). */
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_REDIS_URL, registryUrl } from '../config/config.js';
import { loadBundle } from '../bundle/load.js';
import { MANIFEST_FILE, parseManifest } from '../bundle/manifest.js';
import { readTextFile } from '../bundle/read-file.js';
import { createModelStore } from '../model-store/store.js';

export function register(program: Command): void {
  program
    .command('publish')
    .description('publish a bundle as a new version in the Redis registry and announce it to the replicas')
    .argument('<dir>', 'bundle directory, as the replicas see it (shared path)')
    .option('--redis <url>', `Redis URL (default: MPE_REDIS_URL, else ${DEFAULT_REDIS_URL})`)
    .option('--model <name>', 'registry model name (default: the manifest model.name)')
    .option('--prefix <prefix>', 'key prefix', 'mpe')
    .option('--no-verify', 'skip verifying the checksums before publishing')
    .option('--force', 'repoint an already published version (same checksums) to this location')
    .action(async (dir: string, o: { redis?: string; model?: string; prefix: string; verify: boolean; force?: boolean }) => {
      const location = resolve(dir);
      const manifest = parseManifest(await readTextFile(join(location, MANIFEST_FILE)));
      if (o.verify) await loadBundle(location, { verify: true });
      const checksums: Record<string, string> = { [MANIFEST_FILE]: manifest.manifestXxh64 };
      for (const [name, f] of Object.entries(manifest.files)) checksums[name] = f.xxh64;
      const reg = createModelStore({ url: registryUrl(o.redis), model: o.model ?? manifest.model.name, prefix: o.prefix });
      try {
        const rec = await reg.publish({ version: manifest.model.version, location, checksums, createdAt: manifest.model.createdAt, metrics: manifest.metrics }, { force: o.force === true });
        process.stdout.write(`published ${rec.model} ${rec.version} (${rec.location}); current version is now ${rec.version}\n`);
      } finally {
        await reg.close();
      }
    });
}
