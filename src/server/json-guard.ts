/**
 * Bounds on what a JSON request body may cost before JSON.parse sees it. V8's JSON.parse is
 * linear in the text but expensive per container: measured (node 20, this repo's 2-core box, load
 * 6): a 4 MB body of nested arrays took 2,254 ms, 800,000 nested objects 705 ms, 1,000,000 empty
 * arrays side by side 499 ms, each holding the event loop (both transports and /healthz). The
 * scan runs over the body's bytes AS THEY ARRIVE (json-body.ts), so a body past a limit is refused
 * at the first byte past it, without buffering the rest.
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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Incremental shape scan of a JSON body given in chunks of UTF-8 bytes (strings skipped, escapes
 * honoured, also across chunk boundaries; bytes of multi-byte characters are >= 0x80 and never
 * match the ASCII structural characters). Says nothing about validity otherwise: JSON.parse still
 * decides that.
 */
export class JsonShapeScanner {
  private depth = 0;
  private containers = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly limits: JsonShapeLimits) {}

  /** Scans the next bytes; throws MPE_ERR_REQ_JSON at the first container past a limit. */
  push(bytes: Uint8Array): void {
    const { maxDepth, maxContainers } = this.limits;
    const n = bytes.length;
    let depth = this.depth;
    let containers = this.containers;
    let inString = this.inString;
    let escaped = this.escaped;
    for (let i = 0; i < n; i++) {
      const c = bytes[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
      } else if (c === QUOTE) {
        inString = true;
      } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
        if (++depth > maxDepth) throw new MpeError('MPE_ERR_REQ_JSON', `nested deeper than ${maxDepth} levels`);
        if (++containers > maxContainers) throw new MpeError('MPE_ERR_REQ_JSON', `more than ${maxContainers} arrays and objects`);
      } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
        depth--;
      }
    }
    this.depth = depth;
    this.containers = containers;
    this.inString = inString;
    this.escaped = escaped;
  }
}

/** One-shot form of {@link JsonShapeScanner} over a whole body. */
export function checkJsonShape(body: Uint8Array, limits: JsonShapeLimits): void {
  new JsonShapeScanner(limits).push(body);
}
