// sensitivity.js — the baseline-sensitivity strip: for the shown (layer, target), the top sources
// of the current map and their values under every computed map (each direct baseline, each
// composed pair) side by side, on the shown axis and normalization, so a reader sees at once
// whether a conclusion depends on the baseline. sensitivityTable is pure; renderSensitivity only
// writes into its container (text via textContent).

import { routeTitle } from "./view.js";
import { axisLayers } from "./words.js";
import { normalizeLayer } from "./normalize.js";
import { viewFlagOf } from "./viewModel.js";
import { mapKeyOf } from "./options.js";
import { rankSources } from "./rank.js";
import { divergingScale } from "./colorScale.js";
import { exportFormat } from "./export.js";

/** Every map key of a sample as a state fragment: [{key, partial}] (direct first, then composed). */
function snMaps(choices) {
  return [
    ...choices.direct.map((b) => ({ key: `direct:${b}`, partial: { route: "direct", layerBaseline: b } })),
    ...choices.composed.map(([a, m]) => ({ key: `composed:${a}+${m}`, partial: { route: "composed", attBaseline: a, mlpBaseline: m } })),
  ];
}

/** One stored layer of a map ([source][target] floats): from the decoded map when the viewer has
 * it, else only that layer is decoded (the others wait for the idle warm-up), so a first target
 * selection does not decode every map of the sample at once. */
function snLayer(sample, key, position) {
  if (sample.decoded.has(key)) return sample.decoded.get(key).layers[position];
  if (!sample.snLayers) sample.snLayers = new Map();
  const cacheKey = `${key}|${position}`;
  if (!sample.snLayers.has(cacheKey)) {
    const entry = sample.payload.maps[key];
    const [, rows, cols] = entry.shape;
    const binary = atob(entry.data);
    const out = new Float32Array(rows * cols);
    const start = 2 * position * rows * cols;
    const scale = entry.scale[position];
    for (let k = 0; k < out.length; k++) {
      const lo = binary.charCodeAt(start + 2 * k);
      const hi = binary.charCodeAt(start + 2 * k + 1);
      const q = ((hi << 8) | lo) << 16 >> 16;  // int16 little-endian
      out[k] = q === -32768 ? NaN : q * scale;
    }
    sample.snLayers.set(cacheKey, out);
  }
  return sample.snLayers.get(cacheKey);
}

/** One target's column (what it receives from each source) of one map at one layer, shown like the screen. */
function snColumn(state, sample, key, position) {
  const raw = snLayer(sample, key, position);
  const axis = axisLayers([raw], sample.payload, state.axis || "token", state.wordAgg || "sum");
  const values = normalizeLayer(axis.layers[0], axis.n, state.norm || "raw", viewFlagOf(state.hideSelf));
  const column = new Float32Array(axis.n);
  for (let i = 0; i < axis.n; i++) column[i] = values[i * axis.n + state.target];
  return { column, labels: axis.labels };
}

/** {layer, target, maps: [{key, name, current}], sources: [{source, label, values: [per map]}]}
 * or null without a target. Sources: the top k of the current map (self left out unless rankSelf). */
export function sensitivityTable(state, sample, k = 8) {
  if (state.target === null || state.target === undefined) return null;
  const layers = sample.payload.layers;
  const position = state.layer === "all" ? layers.length - 1 : layers.indexOf(state.layer);
  const maps = snMaps(sample.choices);
  const columns = maps.map((m) => snColumn(state, sample, m.key, position));
  const current = maps.findIndex((m) => m.key === mapKeyOf(state));
  const ranked = rankSources(columns[current].column, k, state.rankSelf === 1 ? -1 : state.target);
  return {
    layer: layers[position], target: state.target, label: columns[0].labels[state.target],
    maps: maps.map((m, j) => ({ key: m.key, name: routeTitle({ ...state, ...m.partial }), current: j === current })),
    sources: ranked.map(({ source }) => ({ source, label: columns[0].labels[source], values: columns.map((c) => c.column[source]) })),
  };
}

/** Draw the strip: one row per top source, one column per map; cells coloured on each map's own
 * ±max over the listed sources (maps have different units), the current map marked. */
export function renderSensitivity(container, table, palette = "light") {
  const doc = container.ownerDocument;
  if (!table) {
    container.replaceChildren();
    return;
  }
  const el = (tag, text, cls) => {
    const node = doc.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  };
  const wrap = el("table", undefined, "sensitivity");
  wrap.id = "sensitivity";
  wrap.createCaption().textContent = `Baseline sensitivity: target ${table.target} “${table.label}” at layer ${table.layer}, `
    + "its top sources under every computed map (each column coloured on its own range)";
  const head = wrap.createTHead().insertRow();
  head.append(el("th", "source"));
  for (const m of table.maps) {
    const th = el("th", m.name, m.current ? "is-current" : "");
    th.scope = "col";
    th.dataset.key = m.key;
    head.append(th);
  }
  const scales = table.maps.map((_, j) => divergingScale(Math.max(...table.sources.map((s) => Math.abs(s.values[j]) || 0))));
  const body = wrap.createTBody();
  for (const s of table.sources) {
    const tr = body.insertRow();
    tr.dataset.source = String(s.source);
    const th = el("th", `${s.source} ${s.label}`);
    th.scope = "row";
    tr.append(th);
    s.values.forEach((v, j) => {
      const td = el("td", exportFormat(v), "num");
      td.title = String(v);
      td.style.background = scales[j].css(v, palette);
      const strong = Math.abs(v) > 0.6 * scales[j].bound;  // dark palette: strong cells are bright
      td.style.color = palette === "dark" ? (strong ? "#111111" : "#eeeeee") : (strong ? "#ffffff" : "#1a1a1a");
      tr.append(td);
    });
  }
  container.replaceChildren(wrap);
}
