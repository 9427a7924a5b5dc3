// Normalizations of one attribution matrix, a pure function of its values.
// Matrices are Float32Array(n*n) in payload order [source i][target j] (index i*n + j), so a
// column is one target: its values are what that target receives and sum to its output change.
// "share" divides every value by its column's Σ|v| (signed shares, |column| sums to 1);
// "share-noself" leaves the self cell out of the denominator and out of the picture.
// NaN (a target that was not computed) stays NaN and is drawn as the neutral colour.

import { STATE_ENUMS } from "./state.js";

const NORM_CHOICES = STATE_ENUMS.norm;

const NORM_LEGENDS = {
  "raw": "raw attribution (signed)",
  "share": "share of the target's Σ|v| over sources (signed)",
  "share-noself": "share of the target's Σ|v| over other sources (signed, self excluded)",
};

/** Throw a message naming the bad value and the valid choices (the viewer shows it). */
function normCheck(norm) {
  if (!NORM_CHOICES.includes(norm)) {
    throw new Error(`unknown normalization ${JSON.stringify(norm)}; valid: ${NORM_CHOICES.join(", ")}`);
  }
}

/** Σ_i |v[i][j]| per target column j, NaN ignored; the self cell skipped when noSelf. */
function normColumnSums(values, n, noSelf) {
  const sums = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    for (let j = 0; j < n; j++) {
      const v = values[row + j];
      if (v === v && !(noSelf && i === j)) sums[j] += Math.abs(v);
    }
  }
  return sums;
}

/** One layer normalized: a new Float32Array, the input is left untouched. */
export function normalizeLayer(values, n, norm, hideSelf = false) {
  normCheck(norm);
  if (values.length !== n * n) {
    throw new Error(`matrix has ${values.length} values, expected ${n}×${n}`);
  }
  const out = Float32Array.from(values);
  const noSelf = norm === "share-noself";
  if (norm !== "raw") {
    const sums = normColumnSums(values, n, noSelf);
    for (let i = 0; i < n; i++) {
      const row = i * n;
      for (let j = 0; j < n; j++) out[row + j] = sums[j] > 0 ? values[row + j] / sums[j] : NaN;
    }
  }
  if (hideSelf || noSelf) {
    for (let i = 0; i < n; i++) out[i * n + i] = NaN;
  }
  return out;
}

/** The legend sentence for a normalization, stating whether self cells are hidden. */
export function normLegend(norm, hideSelf = false) {
  normCheck(norm);
  const selfPart = norm === "share-noself" || hideSelf ? "; self cells hidden" : "";
  return NORM_LEGENDS[norm] + selfPart;
}

/** Every layer normalized the same way, plus the legend text that states it. */
export function normalizeLayers(layers, n, norm, hideSelf = false) {
  return {
    layers: layers.map((values) => normalizeLayer(values, n, norm, hideSelf)),
    legend: normLegend(norm, hideSelf),
  };
}
