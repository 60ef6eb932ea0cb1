/**
 * Evaluation metrics: exact ROC AUC (ties count half) and LogLoss.
 */

/**
 * Exact ROC AUC of `scores` against 0/1 `labels` over the first `n` entries: the probability that
 * a random positive scores above a random negative, ties counting half. O(n log n): positives
 * and negatives are sorted separately with the native typed-array sort, then merged.
 * Returns NaN when one class is absent.
 */
export function exactAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, n: number): number {
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += labels[i] === 1 ? 1 : 0;
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  const pos = new Float64Array(nPos);
  const neg = new Float64Array(nNeg);
  let ip = 0;
  let ineg = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === 1) pos[ip++] = scores[i]!;
    else neg[ineg++] = scores[i]!;
  }
  pos.sort();
  neg.sort();
  // For each positive: negatives strictly below count 1, equal ones 1/2.
  let below = 0;
  let wins = 0;
  let j = 0;
  for (let i = 0; i < nPos; ) {
    const s = pos[i]!;
    while (j < nNeg && neg[j]! < s) j++;
    below = j;
    let k = j;
    while (k < nNeg && neg[k]! === s) k++;
    const ties = k - j;
    // All positives with the same score share the count.
    let same = 0;
    while (i < nPos && pos[i]! === s) {
      same++;
      i++;
    }
    wins += same * (below + ties / 2);
  }
  return wins / (nPos * nNeg);
}

/** Probabilities are clipped to [EPS, 1 - EPS] (as scikit-learn's log_loss does with float eps). */
const EPS = 1e-7;

/** Mean binary cross-entropy of probabilities `probs` against 0/1 `labels` over the first `n` entries. */
export function logLoss(probs: ArrayLike<number>, labels: ArrayLike<number>, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let p = probs[i]!;
    if (p < EPS) p = EPS;
    else if (p > 1 - EPS) p = 1 - EPS;
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / n;
}
