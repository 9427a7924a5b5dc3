// view.js — (state, sample) -> the props of every component. Pure apart from memoized decoding,
// so a redraw is a deterministic function of the state and the data.

import { decodeMap, maxAbs, transposeSquare } from "./data.js";
import { divergingScale } from "./colorScale.js";
import { mapKeyOf, baselineName } from "./options.js";
import { shownMap } from "./shown.js";

export const TOP_K = 10;

// A loaded sample: its payload, its choices and decoded maps cached by key. `layers` keep the
// payload order [source][target]; `display` holds the same values as rows = targets.
export function decodedMap(sample, key) {
  if (!sample.decoded.has(key)) {
    const entry = sample.payload.maps[key];
    if (!entry) throw new Error(`ligsite: sample ${sample.payload.id} has no map ${key}`);
    const map = decodeMap(entry);
    const display = map.layers.map((values) => transposeSquare(values, map.size));
    sample.decoded.set(key, { ...map, display, scale: divergingScale(maxAbs(map.layers)) });
  }
  return sample.decoded.get(key);
}

export function routeTitle(state) {
  return state.route === "direct"
    ? `direct z→z, baseline ${baselineName(state.layerBaseline)}`
    : `composed ATT × MLP, ATT baseline ${baselineName(state.attBaseline)}, MLP baseline ${baselineName(state.mlpBaseline)}`;
}

function cellSize(size, width) {
  return Math.max(6, Math.min(18, Math.floor((width - 120) / size)));
}

export function viewProps(state, sample, width) {
  const { payload } = sample;
  // word axis, normalization and hide-self applied (issue 4); rows = targets, as decoded maps
  const map = shownMap(sample, state, decodedMap(sample, mapKeyOf(state)));
  const tokens = map.labels;
  const size = map.size;
  const all = state.layer === "all";
  const position = all ? payload.layers.length - 1 : payload.layers.indexOf(state.layer);
  const cell = cellSize(size, width);
  const target = state.target;
  const diagonal = tokens.map((token, k) => [k, k]);
  return {
    title: `${all ? "All layers" : `Layer ${state.layer}`} · ${routeTitle(state)}`,
    overview: {
      layers: payload.layers, matrices: map.display, size, scale: map.scale, selected: state.layer,
      large: all, panel: all ? Math.max(140, Math.min(300, Math.floor((width - 40) / 4))) : 96,
    },
    matrix: all ? null : {
      values: map.display[position], rows: size, cols: size, cellWidth: cell, cellHeight: cell,
      rowLabels: tokens, colLabels: tokens, outlines: diagonal,
      highlightRows: target === null ? [] : [target], scale: map.scale,
    },
    legend: {
      scale: map.scale, normalization: map.legend,
      units: state.norm === "raw" ? "units: the target's ‖Δ block output‖, a row sums to it"
        : "units: fraction of the target's Σ|v|, a row's |values| sum to 1",
      scope: "colour range ±max over all layers of this map",
    },
    focus: {
      target, tokens, layers: payload.layers, matrices: map.display, size, scale: map.scale,
      rankPosition: position, k: TOP_K, cell: Math.max(6, Math.min(12, cell)),
    },
  };
}
