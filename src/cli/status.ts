/** `mpe status --model NAME`: the fleet of replicas, flagged when silent or on an old version. Exit 3 when any is flagged. */
import type { Command } from 'commander';
import { DEFAULT_REDIS_URL, registryUrl } from '../config/config.js';
import { formatFleet, readFleet } from '../model-store/fleet.js';
import { createModelStore } from '../model-store/store.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('show the replicas of a model: version, provider, uptime, request rate; flags silent and old-version replicas (exit 3)')
    .requiredOption('--model <name>', 'registry model name')
    .option('--redis <url>', `Redis URL (default: MPE_REDIS_URL, else ${DEFAULT_REDIS_URL})`)
    .option('--prefix <prefix>', 'key prefix', 'mpe')
    .option('--json', 'print JSON')
    .action(async (o: { model: string; redis?: string; prefix: string; json?: boolean }) => {
      const reg = createModelStore({ url: registryUrl(o.redis), model: o.model, prefix: o.prefix });
      try {
        const s = await readFleet(reg.redis, reg.keys);
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatFleet(s)}\n`);
        if (s.replicas.some((r) => r.silent || r.stale)) process.exitCode = 3;
      } finally {
        await reg.close();
      }
    });
}
