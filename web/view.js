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

// height: the window's height in embed mode (the matrix must fit an iframe without scrolling).
function cellSize(size, width, height = null) {
  if (height !== null) return Math.max(3, Math.min(32, Math.floor((width - 90) / size), Math.floor((height - 130) / size)));
  return Math.max(6, Math.min(32, Math.floor((width - 160) / size)));
}

// The colour scale of every stored layer position: one shared scale (±max over all layers) or,
// with state.scale = "layer", each layer's own ±max (cached on the shown map), so faint layers
// stay readable. Returns {scales (one per layer), shared (bool)}.
export function layerScales(map, mode) {
  if (mode !== "layer") return { scales: map.display.map(() => map.scale), shared: true };
  if (!map.layerScales) map.layerScales = map.layers.map((values) => divergingScale(maxAbs([values])));
  return { scales: map.layerScales, shared: false };
}

// Overview panel size: all layers in one row when they fit at >= 64 px, 4 per row when large.
function panelSize(width, count, large) {
  const frame = 14;  // panel padding + border + grid gap
  if (large) return Math.max(120, Math.min(260, Math.floor(width / 4) - frame - 64));  // 64: label margin
  return Math.max(64, Math.min(96, Math.floor(width / count) - frame));
}

function legendProps(state, map, colour, layer, all, palette) {
  const perPanel = !colour.shared && all;
  const scale = colour.shared ? map.scale : colour.scales[layer.position];
  const scope = colour.shared ? `colour range ±max over all ${map.display.length} layers of this map (shared)`
    : perPanel ? "colour range: each layer its own ±max (written under each panel)"
      : `colour range ±max of layer ${layer.id} only (per-layer scale)`;
  return {
    scale, perPanel, scope, normalization: map.legend, mode: colour.shared ? "shared" : "layer",
    palette, hiddenSelf: Boolean(map.hiddenSelf),
    units: state.norm !== "raw" ? "unitless: the |values| of a target's row sum to 1"
      : state.route === "direct" ? "units: ‖Δ block output‖ of the target, a row sums to it"
        : "units: ATT × MLP products of norms (compare shapes with direct, not sizes)",
  };
}

const diagonals = new Map();

function diagonalOf(size) {  // the self cells [k, k], one array per size (kept across renders)
  if (!diagonals.has(size)) diagonals.set(size, Array.from({ length: size }, (_, k) => [k, k]));
  return diagonals.get(size);
}

// palette: "light" | "dark", the page's resolved theme (heatmaps follow it; exports stay light).
export function viewProps(state, sample, width, palette = "light", height = null) {
  const { payload } = sample;
  // word axis, normalization and hide-self applied (issue 4); rows = targets, as decoded maps
  const map = shownMap(sample, state, decodedMap(sample, mapKeyOf(state)));
  const tokens = map.labels;
  const size = map.size;
  const all = state.layer === "all";
  const position = all ? payload.layers.length - 1 : payload.layers.indexOf(state.layer);
  const cell = cellSize(size, width, state.embed === 1 ? height : null);
  const target = state.target;
  const colour = layerScales(map, state.scale);
  const layer = { position, id: payload.layers[position] };
  const hidden = map.hiddenSelf ? diagonalOf(size) : null;
  return {
    title: `${all ? "All layers" : `Layer ${state.layer}`} · ${routeTitle(state)}`,
    overview: {
      layers: payload.layers, matrices: map.display, size, scales: colour.scales, selected: state.layer,
      large: all && state.embed !== 1, panel: panelSize(width, payload.layers.length, all && state.embed !== 1),
      ranges: !colour.shared,
      palette, hidden, labels: tokens, target,
    },
    matrix: all ? null : {
      values: map.display[position], rows: size, cols: size, cellWidth: cell, cellHeight: cell,
      rowLabels: tokens, colLabels: tokens, outlines: diagonalOf(size),
      highlightRows: target === null ? [] : [target], scale: colour.scales[position], palette, hidden,
    },
    legend: legendProps(state, map, colour, layer, all, palette),
    focus: {
      target, tokens, layers: payload.layers, matrices: map.display, size,
      scale: colour.shared ? map.scale : colour.scales, rankScale: colour.scales[position],
      rankPosition: position, k: TOP_K, cell: Math.max(6, Math.min(16, cell)),
      share: state.norm !== "raw", rankSelf: state.rankSelf === 1, palette,
      hiddenSelf: Boolean(map.hiddenSelf),
    },
  };
}
