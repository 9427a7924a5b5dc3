// rank.js — one target's sources ranked by |value|: the focus list, the aria-live sentence.
// Pure, so the two views that name "top sources" cannot disagree.

/** One target's row of a rows = targets matrix -> its top-k sources by |value| (ties by index),
 *  each with its signed share of the row's Σ|v|; NaN (not computed) skipped, and the source
 *  `skip` too (the target's self cell, unless the state asks to rank it: rankSelf=1). */
export function rankSources(row, k, skip = -1) {
  let total = 0;
  for (const v of row) if (v === v) total += Math.abs(v);
  const ranked = [];
  row.forEach((value, source) => {
    if (value === value && source !== skip) ranked.push({ source, value, share: total > 0 ? value / total : NaN });
  });
  ranked.sort((a, b) => Math.abs(b.value) - Math.abs(a.value) || a.source - b.source);
  return ranked.slice(0, k);
}
