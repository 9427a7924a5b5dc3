// The view model: what is drawn for a state, as plain data (no DOM). Screen, exports and the table
// view all read it, so an exported figure shows exactly the numbers on screen.
// Input matrices are Float32Array(n*n) in payload order [source][target]; the view keeps that
// order and declares the on-screen orientation (rows = targets, columns = sources).
import { maxAbs } from "./data.js";
import { normalizeLayers } from "./normalize.js";
import { axisLayers, wordAggLegend } from "./words.js";
import { mapKeyOf, baselineName } from "./options.js";

export const VIEW_ORIENTATION = "rows: targets (what a token receives) · columns: sources";

/** A URL-ish flag (true, 1, "1") as a boolean. */
export function viewFlagOf(value) {
  return value === true || value === 1 || value === "1" || value === "true";
}

/** Positions (into the stored layer arrays) of the layers the state shows. */
function viewLayerPositions(state, payload) {
  if (state.layer === "all" || state.layer === undefined || state.layer === null) {
    return payload.layers.map((_, pos) => pos);
  }
  const pos = payload.layers.indexOf(Number(state.layer));
  if (pos < 0) {
    throw new Error(`layer ${state.layer} is not in the data; valid: all, ${payload.layers.join(", ")}`);
  }
  return [pos];
}

/** Symmetric colour domain: the largest finite |v| over everything drawn (1 if all zero/NaN). */
export function viewDomainOf(panels) {
  return maxAbs(panels.map((panel) => panel.values)) || 1;
}

/** The caption line of exports: sample (its label when it has one), route, baselines, layer,
 * normalization, orientation. */
export function viewCaptionOf(state, legend, label = null) {
  const route = state.route === "direct"
    ? `direct, layer baseline ${baselineName(state.layerBaseline)}`
    : `composed, att baseline ${baselineName(state.attBaseline)} × mlp baseline ${baselineName(state.mlpBaseline)}`;
  const layer = state.layer === "all" || state.layer == null ? "all layers" : `layer ${state.layer}`;
  const sample = label === null || label === undefined || label === "" ? `sample ${state.sample}`
    : `${label} (sample ${state.sample})`;
  return `${sample} · route ${route} · ${layer} · ${state.axis || "token"} axis · `
    + `${state.norm || "raw"}: ${legend} · ${VIEW_ORIENTATION}`;
}

/** Everything a renderer needs for (state, payload); layersOf(key) -> Float32Array[] per layer. */
export function buildViewModel(state, payload, layersOf) {
  const key = mapKeyOf(state);
  const stored = layersOf(key);
  if (!stored) throw new Error(`the data has no map ${key}`);
  const positions = viewLayerPositions(state, payload);
  const agg = state.wordAgg || "sum";
  const axis = axisLayers(positions.map((pos) => stored[pos]), payload, state.axis || "token", agg);
  const norm = normalizeLayers(axis.layers, axis.n, state.norm || "raw", viewFlagOf(state.hideSelf));
  if (state.axis === "word") norm.legend = `${norm.legend}; ${wordAggLegend(agg)}`;
  const panels = positions.map((pos, k) => ({ layer: payload.layers[pos], values: norm.layers[k] }));
  return {
    key,
    n: axis.n,
    labels: axis.labels,
    panels,
    domain: viewDomainOf(panels),
    legend: norm.legend,
    hiddenSelf: viewFlagOf(state.hideSelf) || state.norm === "share-noself",
    caption: viewCaptionOf(state, norm.legend, payload.label),
    orientation: VIEW_ORIENTATION,
  };
}
