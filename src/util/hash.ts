/**
 * Small integer hashes shared by several areas (the vocabulary's slot hash, the synthetic data
 * generator, the drift sketches). Lives in util/ so that none of them depends on another's folder.
 */

/** murmur3's 32-bit finaliser (fmix32): a bijection on uint32, so distinct inputs never collide. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}
