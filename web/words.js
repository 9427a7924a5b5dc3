// The word axis: combine the subword rows and columns of every word, so both routes (which store
// the same token axis) are compared on one shared word axis. The mapping token -> word comes from
// the payload's word_index (special tokens are words of their own there). `agg` (state wordAgg):
// "sum" adds every subword pair; "mean" divides that sum by |a|·|b| (the subword counts of the
// target and source words), so a long word is not inflated by its number of pieces. Both keep
// NaN: a word with an uncomputed subword target is unknown, not smaller.

import { STATE_ENUMS } from "./state.js";
import { tokenLabels } from "./tokenText.js";

const AXIS_CHOICES = STATE_ENUMS.axis;
const WORD_AGGS = STATE_ENUMS.wordAgg;

/** The legend phrase of a word aggregation. */
export function wordAggLegend(agg) {
  return agg === "mean" ? "word axis: mean over subword pairs" : "word axis: subwords summed";
}

/** Check the payload's mapping once: one index per token, each in [0, nWords). */
function wordsCheck(wordIndex, n, nWords) {
  if (wordIndex.length !== n) {
    throw new Error(`word_index has ${wordIndex.length} entries for ${n} tokens`);
  }
  for (const w of wordIndex) {
    if (!Number.isInteger(w) || w < 0 || w >= nWords) {
      throw new Error(`word_index entry ${w} is outside 0..${nWords - 1}`);
    }
  }
}

/** One [source][target] token matrix (n×n) summed (or averaged) into an nWords×nWords word matrix. */
export function wordAxisLayer(values, n, wordIndex, nWords, agg = "sum") {
  const out = new Float32Array(nWords * nWords);
  const acc = new Float64Array(nWords * nWords);
  for (let i = 0; i < n; i++) {
    const wordRow = wordIndex[i] * nWords;
    const row = i * n;
    for (let j = 0; j < n; j++) acc[wordRow + wordIndex[j]] += values[row + j];
  }
  if (agg === "mean") {
    const count = new Float64Array(nWords);
    for (const w of wordIndex) count[w] += 1;
    for (let a = 0; a < nWords; a++) {
      for (let b = 0; b < nWords; b++) acc[a * nWords + b] /= count[a] * count[b];
    }
  }
  out.set(acc);
  return out;
}

/** The layers and axis labels for the chosen axis ("token" returns the layers as they are). */
export function axisLayers(layers, payload, axis, agg = "sum") {
  if (!AXIS_CHOICES.includes(axis)) {
    throw new Error(`unknown axis ${JSON.stringify(axis)}; valid: ${AXIS_CHOICES.join(", ")}`);
  }
  if (!WORD_AGGS.includes(agg)) {
    throw new Error(`unknown word aggregation ${JSON.stringify(agg)}; valid: ${WORD_AGGS.join(", ")}`);
  }
  const n = payload.tokens.length;
  if (axis === "token") return { layers, labels: tokenLabels(payload.tokens, payload.tokens, payload.unk_text), n };
  const nWords = payload.words.length;
  wordsCheck(payload.word_index, n, nWords);
  return {
    layers: layers.map((values) => wordAxisLayer(values, n, payload.word_index, nWords, agg)),
    labels: tokenLabels(payload.words, payload.tokens),
    n: nWords,
  };
}

/** A target index carried across an axis switch: token -> its word, word -> its first token. */
export function targetOnAxis(target, fromAxis, toAxis, payload) {
  if (target === null || target === undefined || fromAxis === toAxis) return target;
  if (toAxis === "word") return payload.word_index[target] ?? null;
  const first = payload.word_index.indexOf(target);
  return first >= 0 ? first : null;
}
