// shown.js — the matrices the screen shows for a state: word axis, normalization and hide-self
// applied to the decoded map, then transposed to rows = targets. Cached on the sample per
// (map, axis, norm, hideSelf), so flipping a control back is free and the heatmap's bitmap cache
// (keyed by the values array) keeps working.
import { transposeSquare, maxAbs } from "./data.js";
import { divergingScale } from "./colorScale.js";
import { axisLayers, wordAggLegend } from "./words.js";
import { tokenLabels } from "./tokenText.js";
import { normalizeLayers, normLegend } from "./normalize.js";
import { mapKeyOf } from "./options.js";
import { viewFlagOf } from "./viewModel.js";

/** rawMap = view.js decodedMap: {layers ([source][target]), display, size, scale} -> the same
 * fields for what is shown, plus labels and the legend sentence. */
export function shownMap(sample, state, rawMap) {
  const hideSelf = viewFlagOf(state.hideSelf);
  const agg = state.wordAgg || "sum";
  const cacheKey = `${mapKeyOf(state)}|${state.axis}|${agg}|${state.norm}|${hideSelf ? 1 : 0}`;
  if (!sample.shown) sample.shown = new Map();
  if (!sample.shown.has(cacheKey) && state.axis !== "word" && state.norm === "raw" && !hideSelf) {
    // nothing to transform: share the decoded arrays (and so the heatmap's cached bitmaps)
    const { layers, display, size, scale } = rawMap;
    sample.shown.set(cacheKey, { layers, display, size, scale, labels: tokenLabels(sample.payload.tokens, sample.payload.tokens, sample.payload.unk_text),
      legend: normLegend("raw", false) });
  }
  if (!sample.shown.has(cacheKey)) {
    const axis = axisLayers(rawMap.layers, sample.payload, state.axis || "token", agg);
    const norm = normalizeLayers(axis.layers, axis.n, state.norm || "raw", hideSelf);
    sample.shown.set(cacheKey, {
      layers: norm.layers,
      display: norm.layers.map((values) => transposeSquare(values, axis.n)),
      size: axis.n,
      labels: axis.labels,
      scale: divergingScale(maxAbs(norm.layers)),
      legend: state.axis === "word" ? `${norm.legend}; ${wordAggLegend(agg)}` : norm.legend,
      hiddenSelf: hideSelf || state.norm === "share-noself",
    });
  }
  return sample.shown.get(cacheKey);
}
