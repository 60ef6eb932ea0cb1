/**
 * Bounds on what a JSON request body may cost before JSON.parse sees it. V8's JSON.parse is
 * linear in the text but expensive per container: measured (node 20, this repo's 2-core box, load
 * 6): a 4 MB body of nested arrays took 2,254 ms, 800,000 nested objects 705 ms, 1,000,000 empty
 * arrays side by side 499 ms, each holding the event loop (both transports and /healthz). One
 * linear scan over the text (no allocation) refuses such bodies first.
 */
import { MpeError } from '../errors.js';

export interface JsonShapeLimits {
  /** Deepest nesting of arrays/objects (the API's own bodies nest 3 deep). */
  readonly maxDepth: number;
  /** Most arrays + objects in one body. */
  readonly maxContainers: number;
}

/** Nesting limit of request bodies: the API needs 3 ({rows: [{...}]}, {ids: [[...]]}); room for growth. */
export const MAX_JSON_DEPTH = 16;

/**
 * Containers one request may hold, for the configured limits: a Lookup of `lookupFeatureLimit`
 * `{field, value}` objects or a Score of `requestRowLimit` rows, plus a little room.
 */
export function maxJsonContainers(lookupFeatureLimit: number, requestRowLimit: number): number {
  return Math.max(lookupFeatureLimit, requestRowLimit) + 64;
}

/**
 * Scans `text` once (strings skipped, escapes honoured) and throws MPE_ERR_REQ_JSON when arrays
 * and objects nest deeper than `maxDepth` or number more than `maxContainers`. Says nothing about
 * validity otherwise: JSON.parse still decides that.
 */
export function checkJsonShape(text: string, limits: JsonShapeLimits): void {
  const n = text.length;
  let depth = 0;
  let containers = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: a backslash escapes the next character.
      for (i++; i < n; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limits.maxDepth) throw new MpeError('MPE_ERR_REQ_JSON', `nested deeper than ${limits.maxDepth} levels`);
      if (++containers > limits.maxContainers) throw new MpeError('MPE_ERR_REQ_JSON', `more than ${limits.maxContainers} arrays and objects`);
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}
