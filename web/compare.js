// compare.js — pin-and-compare as data: the pinned state A lives in the state's `pin` key (a
// compact query string of the keys that choose a matrix), the current state is B, and the view
// shows A | B | A−B with the pair's L2 distance and Pearson correlation, and the cells that
// disagree most. Pure: no DOM; the matrices are the shown ones (shown.js), rows = targets.

import { parseHash } from "./state.js";
import { resolveState, mapKeyOf } from "./options.js";
import { shownMap } from "./shown.js";
import { decodedMap } from "./view.js";
import { divergingScale } from "./colorScale.js";
import { maxAbs } from "./data.js";

/** The keys that choose the matrix a state shows (what a pin keeps). */
export const PIN_KEYS = ["sample", "route", "layerBaseline", "attBaseline", "mlpBaseline", "layer", "norm",
  "hideSelf", "axis", "wordAgg"];
export const COMPARE_TOP = 10;

/** The `pin` value for a state: "sample=a&route=direct&…" (only PIN_KEYS). */
export function pinOf(state) {
  const params = new URLSearchParams();
  for (const key of PIN_KEYS) params.set(key, state[key] === null || state[key] === undefined ? "" : String(state[key]));
  return params.toString();
}

/** The pinned state A: the current state with the pin's keys, repaired against the sample's data. */
export function pinnedState(pin, state, choices) {
  return resolveState({ ...state, ...parseHash("#" + pin) }, choices);
}

/** A state in words for the panel titles: route, baselines, layer, norm. */
export function compareName(state) {
  const route = state.route === "direct" ? `direct ${state.layerBaseline}` : `composed ${state.attBaseline} × ${state.mlpBaseline}`;
  return `${route} · layer ${state.layer} · ${state.norm}${state.hideSelf ? " (self hidden)" : ""} · ${state.axis}`;
}

/** A − B cell by cell (NaN where either is NaN), L2 = ‖A − B‖₂ and relative L2 = L2 / ‖A‖₂ over the
 * cells finite in both, Pearson of A and B over those cells, and the COMPARE_TOP cells of largest
 * |A − B| as [row, col]. a, b: Float32Array(n*n) rows = targets. */
export function compareMatrices(a, b, n) {
  const diff = new Float32Array(n * n);
  let count = 0; let sa = 0; let sb = 0; let saa = 0; let sbb = 0; let sab = 0; let sdd = 0;
  const ranked = [];
  for (let k = 0; k < n * n; k++) {
    const x = a[k];
    const y = b[k];
    if (x !== x || y !== y) { diff[k] = NaN; continue; }
    const d = x - y;
    diff[k] = d;
    count += 1; sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y; sdd += d * d;
    ranked.push(k);
  }
  ranked.sort((p, q) => Math.abs(diff[q]) - Math.abs(diff[p]) || p - q);
  const cov = sab - (sa * sb) / count;
  const va = saa - (sa * sa) / count;
  const vb = sbb - (sb * sb) / count;
  const l2 = Math.sqrt(sdd);
  return {
    diff, count, l2, rel: saa > 0 ? l2 / Math.sqrt(saa) : NaN,
    pearson: count > 1 && va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : NaN,
    top: ranked.slice(0, COMPARE_TOP).filter((k) => diff[k] !== 0).map((k) => [Math.floor(k / n), k % n]),
  };
}

// One scale object per colour bound, so redrawing the same pair reuses the cached bitmaps.
const compareScales = new Map();

function scaleFor(bound) {
  if (!compareScales.has(bound)) {
    if (compareScales.size > 64) compareScales.clear();
    compareScales.set(bound, divergingScale(bound));
  }
  return compareScales.get(bound);
}

function comparedLayer(state, sample, shown) {
  const layers = sample.payload.layers;
  const position = state.layer === "all" ? layers.length - 1 : layers.indexOf(state.layer);
  return { position, layer: layers[position], values: shown.display[position] };
}

/** Props of the compare panel for the current state B (null when nothing is pinned). */
export function compareProps(state, sample) {
  if (!state.pin) return null;
  const a = pinnedState(state.pin, state, sample.choices);
  if (a.sample !== state.sample) {
    return { error: `A is pinned on sample “${a.sample}”: A and B must show the same sample to compare cell by cell.` };
  }
  const shownA = shownMap(sample, a, decodedMap(sample, mapKeyOf(a)));
  const shownB = shownMap(sample, state, decodedMap(sample, mapKeyOf(state)));
  if (shownA.size !== shownB.size) {
    return { error: `A shows ${shownA.size} ${a.axis}s and B ${shownB.size} ${state.axis}s: put both on the same axis to compare.` };
  }
  const layerA = comparedLayer(a, sample, shownA);
  const layerB = comparedLayer(state, sample, shownB);
  const stats = compareMatrices(layerA.values, layerB.values, shownA.size);
  return {
    error: null, a, size: shownA.size, labels: shownB.labels, stats,
    nameA: compareName({ ...a, layer: layerA.layer }), nameB: compareName({ ...state, layer: layerB.layer }),
    valuesA: layerA.values, valuesB: layerB.values,
    scale: scaleFor(maxAbs([layerA.values, layerB.values])), diffScale: scaleFor(maxAbs([stats.diff])),
    hiddenA: shownA.hiddenSelf, hiddenB: shownB.hiddenSelf,
  };
}
