/**
 * A bijective 32-bit integer mixer for the synthetic data generator (distinct hex values per
 * field) and its hashed effects. Random streams come from `util/random.ts`.
 */

/** murmur3's 32-bit finaliser: a bijection on uint32 (so distinct inputs never collide). */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}
