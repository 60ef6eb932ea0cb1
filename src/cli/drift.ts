/** `mpe drift --model NAME`: how far live lookup frequencies (sampled by the replicas) have moved from the bundle's groups. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_REDIS_URL, registryUrl } from '../config/config.js';
import { MANIFEST_FILE, parseManifest } from '../bundle/manifest.js';
import { MpeError } from '../errors.js';
import { createModelStore } from '../model-store/store.js';
import { computeDrift } from '../stats/drift.js';
import { readLiveCounts } from '../model-store/stats-store.js';

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

export function register(program: Command): void {
  program
    .command('drift')
    .description('report pruned, OOV and misplaced-frequent shares of live traffic against the bundle groups')
    .requiredOption('--model <name>', 'registry model name')
    .option('--version <version>', 'version (default: current)')
    .option('--redis <url>', `Redis URL (default: MPE_REDIS_URL, else ${DEFAULT_REDIS_URL})`)
    .option('--prefix <prefix>', 'key prefix', 'mpe')
    .option('--json', 'print JSON')
    .action(async (o: { model: string; version?: string; redis?: string; prefix: string; json?: boolean }) => {
      const reg = createModelStore({ url: registryUrl(o.redis), model: o.model, prefix: o.prefix });
      try {
        const rec = o.version ? await reg.get(o.version) : await reg.current();
        if (rec === null) throw new MpeError('MPE_ERR_REGISTRY_NOT_FOUND', `${o.model} ${o.version ?? '(current)'}`);
        const m = parseManifest(await readFile(join(rec.location, MANIFEST_FILE), 'utf8'));
        const live = await readLiveCounts(reg.redis, reg.keys, rec.version);
        if (live === null) throw new MpeError('MPE_ERR_REGISTRY_NOT_FOUND', `no live statistics for ${o.model} ${rec.version} yet`);
        const r = computeDrift({ featureCount: m.featureCount, groupSize: m.table.groupSize, groupPad: m.table.groupPad ?? 0, bitsPerGroup: m.table.bitsPerGroup, fields: m.fields }, live);
        if (o.json) {
          process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        const lines = [
          `model ${o.model} ${rec.version}: ${r.sampled} sampled lookups (~${Math.round(r.estimatedLookups)} lookups)`,
          `pruned (0-bit) share   ${pct(r.prunedShare)}`,
          `OOV share              ${pct(r.oovShare)}`,
          `misplaced-frequent     ${pct(r.misplacedShare)} (${r.misplacedCount} features whose live rank deserves more bits)`,
          `share by bits          ${Object.entries(r.shareByBits).map(([b, s]) => `${b}b ${pct(s)}`).join('  ')}`,
          `per-feature estimates: count-min, within ${pct(r.sketchEpsilon)} of a field's lookups`,
        ];
        for (const x of r.misplaced.slice(0, 10)) lines.push(`  ${x.field} id ${x.id}: ${pct(x.share)} of lookups at ${x.bits} bits (live rank -> ${x.liveRankBits} bits)`);
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await reg.close();
      }
    });
}
