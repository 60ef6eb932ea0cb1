/**
 * Re-export of {@link mix32}, which moved to `util/hash.ts` (vocab/ must not depend on data/).
 * Kept only for `src/stats/count-min.ts`; delete once that file imports `../util/hash.js`.
 */
export { mix32 } from '../util/hash.js';
