/** `mpe rollback --model NAME --to VERSION`: makes an earlier version current again (announced to every replica). */
import type { Command } from 'commander';
import { DEFAULT_REDIS_URL, registryUrl } from '../config/config.js';
import { createModelStore } from '../model-store/store.js';

export function register(program: Command): void {
  program
    .command('rollback')
    .description('make an already published version current again')
    .requiredOption('--model <name>', 'registry model name')
    .requiredOption('--to <version>', 'version to serve')
    .option('--redis <url>', `Redis URL (default: MPE_REDIS_URL, else ${DEFAULT_REDIS_URL})`)
    .option('--prefix <prefix>', 'key prefix', 'mpe')
    .action(async (o: { model: string; to: string; redis?: string; prefix: string }) => {
      const reg = createModelStore({ url: registryUrl(o.redis), model: o.model, prefix: o.prefix });
      try {
        const rec = await reg.rollback(o.to);
        process.stdout.write(`rolled back ${rec.model} to ${rec.version} (${rec.location})\n`);
      } finally {
        await reg.close();
      }
    });
}
