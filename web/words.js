// The word axis: sum the subword rows and columns of every word, so both routes (which store the
// same token axis) are compared on one shared word axis. The mapping token -> word comes from the
// payload's word_index (special tokens are words of their own there). Sums keep NaN: a word with
// an uncomputed subword target is unknown, not smaller.

import { STATE_ENUMS } from "./state.js";

const AXIS_CHOICES = STATE_ENUMS.axis;

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

/** One [source][target] token matrix (n×n) summed into an nWords×nWords word matrix. */
export function wordAxisLayer(values, n, wordIndex, nWords) {
  const out = new Float32Array(nWords * nWords);
  const acc = new Float64Array(nWords * nWords);
  for (let i = 0; i < n; i++) {
    const wordRow = wordIndex[i] * nWords;
    const row = i * n;
    for (let j = 0; j < n; j++) acc[wordRow + wordIndex[j]] += values[row + j];
  }
  out.set(acc);
  return out;
}

/** The layers and axis labels for the chosen axis ("token" returns the layers as they are). */
export function axisLayers(layers, payload, axis) {
  if (!AXIS_CHOICES.includes(axis)) {
    throw new Error(`unknown axis ${JSON.stringify(axis)}; valid: ${AXIS_CHOICES.join(", ")}`);
  }
  const n = payload.tokens.length;
  if (axis === "token") return { layers, labels: payload.tokens, n };
  const nWords = payload.words.length;
  wordsCheck(payload.word_index, n, nWords);
  return {
    layers: layers.map((values) => wordAxisLayer(values, n, payload.word_index, nWords)),
    labels: payload.words,
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
