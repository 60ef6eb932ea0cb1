/**
 * Re-ranking an imported table into the bundle's grouped layout (docs/format.md): the bundle
 * needs every slice of `groupSize` consecutive ids to share one bit width, all slices full but
 * the last. A PyTorch export gives a bit width per feature (through its own feature -> group map,
 * wherever its partial group is); nothing else is assumed about its grouping.
 *
 * Plan: features are gathered by bit width ("classes"); inside a class they are ordered by their
 * exported count, most frequent first (ties: lower torch index first); classes follow each other
 * by bit width, widest first, except that the one class whose size is not a multiple of the group
 * size goes last (its tail is the bundle's partial group). The group size is the export's own
 * largest group when that works (at most one class is not a multiple of it), else the largest
 * size that does (a gcd over the other classes).
 */

/** The result: a permutation between torch indices and bundle ids, and the grouped layout. */
export interface RerankPlan {
  /** order[id] = torch index of bundle id `id`. */
  readonly order: Int32Array;
  /** idOf[index] = bundle id of torch index `index`. */
  readonly idOf: Int32Array;
  readonly groupSize: number;
  readonly bitsPerGroup: Uint8Array;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * @param bits bit width of each torch feature index (0..8 or 32)
 * @param counts optional count per feature (higher first inside a class)
 * @param preferredGroupSize the export's largest group (>= 1)
 */
export function planRerank(bits: Uint8Array, counts: Float64Array | undefined, preferredGroupSize: number): RerankPlan {
  const n = bits.length;
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    let list = members.get(b);
    if (list === undefined) members.set(b, (list = []));
    list.push(i);
  }
  const widths = [...members.keys()].sort((a, b) => b - a);
  const sizeOf = (b: number): number => members.get(b)!.length;
  let groupSize = Math.max(1, Math.min(preferredGroupSize, n));
  let last: number | undefined;
  const offMultiple = widths.filter((b) => sizeOf(b) % groupSize !== 0);
  if (offMultiple.length <= 1) {
    last = offMultiple[0];
  } else {
    // Some class must end in a partial group; choose it so that the others share the largest size.
    groupSize = 0;
    for (const c of widths) {
      let g = 0;
      for (const b of widths) if (b !== c) g = gcd(g, sizeOf(b));
      if (g === 0) g = sizeOf(c); // a single class
      if (g > groupSize) {
        groupSize = g;
        last = c;
      }
    }
  }
  const classOrder = widths.filter((b) => b !== last);
  if (last !== undefined) classOrder.push(last);
  const order = new Int32Array(n);
  const idOf = new Int32Array(n);
  const groupBits: number[] = [];
  let id = 0;
  for (const b of classOrder) {
    const list = members.get(b)!;
    if (counts !== undefined) list.sort((x, y) => counts[y]! - counts[x]! || x - y);
    for (let k = 0; k < list.length; k += groupSize) groupBits.push(b);
    for (const i of list) {
      order[id] = i;
      idOf[i] = id;
      id++;
    }
  }
  return { order, idOf, groupSize, bitsPerGroup: Uint8Array.from(groupBits) };
}
