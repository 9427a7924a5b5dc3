// The diagnostics panel: per layer, how far the direct map is from the composed one (L2 absolute,
// relative, Pearson; payload "l2" keyed "<layer bl>|<att bl>+<mlp bl>") and how complete each
// attribution is (the ratio Σ score / L farthest from 1 over targets and heads), with a warning
// badge where the engine's warnings name that layer. diagnosticsRows is pure; renderDiagnostics
// only writes into the container it is given (text via textContent, so data stays inert).
import { exportFormat } from "./export.js";
import { definitionList } from "./glossary.js";
import { baselineName } from "./options.js";

const DG_PARTS = { layer: "block", att: "ATT", mlp: "MLP" };

// One line per metric, shown under the table (issue 13: nothing said what the numbers mean).
export const DG_NOTES = [
  ["L2 abs", "‖d − c‖₂ per target column between the direct map d and the composed map c, averaged over the layer's targets (0 = identical)."],
  ["L2 rel", "the same distance divided by ‖d‖₂ (0 = identical, 1 = as far as d is long)."],
  ["Pearson", "correlation of d and c per target column, averaged (1 = same shape whatever the units)."],
  ["completeness", "the ratio Σ score / L farthest from 1 over the layer's targets (and heads): 1 means the attribution accounts for the whole output change; ⚠ marks the engine's warnings."],
];

/** "att:zero" -> "ATT · zero" (human baseline names). */
export function dgKeyName(key) {
  const [part, baseline] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
  return `${DG_PARTS[part] || part} · ${baselineName(baseline)}`;
}

/** "<layer bl>|<att bl>+<mlp bl>" in words. */
export function dgPairName(state) {
  return `direct (baseline ${baselineName(state.layerBaseline)}) vs composed (ATT ${baselineName(state.attBaseline)} × MLP ${baselineName(state.mlpBaseline)})`;
}

/** The ratio farthest from 1 in a nested array of ratios (null / NaN ignored), or null. */
function dgWorst(values) {
  let worst = null;
  const visit = (v) => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === "number" && Number.isFinite(v) && (worst === null || Math.abs(v - 1) > Math.abs(worst - 1))) worst = v;
  };
  visit(values);
  return worst;
}

/** Warnings per (layer, completeness key), from the engine's lines "layer 3 att:zero: 2 completeness
 * ratios off ..."; a warning without a key flags the whole layer. */
function dgWarnings(warnings) {
  const flags = [];
  for (const text of warnings || []) {
    const layer = /\blayer (\d+)/.exec(text);
    const key = /\b((?:layer|att|mlp):[^\s:()]+)/.exec(text);
    if (layer) flags.push({ layer: Number(layer[1]), key: key ? key[1] : null, text });
  }
  return flags;
}

/** Completeness keys that belong to the chosen baselines and exist in the data. */
function dgKeys(state, payload) {
  const wanted = [`layer:${state.layerBaseline}`, `att:${state.attBaseline}`, `mlp:${state.mlpBaseline}`];
  return wanted.filter((key) => payload.completeness && key in payload.completeness);
}

/** Rows of the panel as plain data: [{layer, abs, rel, pearson, completeness: {key: {worst, warnings}}}]. */
export function diagnosticsRows(state, payload) {
  const l2Key = `${state.layerBaseline}|${state.attBaseline}+${state.mlpBaseline}`;
  const l2 = (payload.l2 || {})[l2Key] || null;
  const keys = dgKeys(state, payload);
  const flags = dgWarnings(payload.warnings);
  const rows = payload.layers.map((layer, pos) => {
    const completeness = {};
    for (const key of keys) {
      const warnings = flags.filter((f) => f.layer === layer && (f.key === null || f.key === key)).map((f) => f.text);
      completeness[key] = { worst: dgWorst(payload.completeness[key][pos]), warnings };
    }
    const pick = (name) => (l2 && l2[name] ? l2[name][pos] : null);
    return { layer, abs: pick("abs"), rel: pick("rel"), pearson: pick("pearson"), completeness };
  });
  return { l2Key, hasL2: l2 !== null, pooled: l2 ? l2.pooled || null : null, keys, rows,
    available: Object.keys(payload.l2 || {}) };
}

/** A <td> showing v at 3 significant digits, the exact value in its title. */
function dgCell(doc, v) {
  const td = doc.createElement("td");
  const ok = typeof v === "number" && Number.isFinite(v);
  td.textContent = ok ? exportFormat(v) : "—";
  if (ok) td.title = String(v);
  td.className = "num";
  return td;
}

/** A completeness cell: the worst ratio plus a warning badge naming the engine's warnings. */
function dgCompletenessCell(doc, entry) {
  const td = dgCell(doc, entry.worst);
  if (entry.warnings.length) {
    const badge = doc.createElement("span");
    badge.className = "badge warn";
    badge.textContent = "⚠";
    badge.setAttribute("role", "img");
    badge.setAttribute("aria-label", "warning: " + entry.warnings.join("; "));
    badge.title = entry.warnings.join("\n");
    td.append(" ", badge);
    td.classList.add("warned");
  }
  return td;
}

/** The direct baseline the L2 columns compare with, as a select (hidden on the composed route
 * otherwise): `onLayerBaseline(id)` is called on change. */
function dgBaselinePicker(doc, state, payload, onLayerBaseline) {
  const label = doc.createElement("label");
  label.className = "diag-baseline";
  label.append("Compare the composed map with the direct map at baseline ");
  const select = doc.createElement("select");
  select.id = "diag-layerBaseline";
  const direct = Object.keys(payload.maps || {}).filter((k) => k.startsWith("direct:")).map((k) => k.slice(7));
  for (const id of direct) {
    const option = doc.createElement("option");
    option.value = id;
    option.textContent = baselineName(id);
    select.append(option);
  }
  select.value = state.layerBaseline ?? "";
  select.addEventListener("change", () => onLayerBaseline(select.value));
  label.append(select);
  return label;
}

/** Draw the panel into `container` (its children are replaced) from (state, payload);
 * options.onLayerBaseline(id) makes the compared direct baseline choosable in the panel. */
export function renderDiagnostics(container, state, payload, options = {}) {
  const doc = container.ownerDocument;
  const info = diagnosticsRows(state, payload);
  const table = doc.createElement("table");
  table.className = "diagnostics";
  const caption = table.createCaption();
  const available = info.available.map((key) => {
    const [layerBaseline, pair] = key.split("|");
    const [attBaseline, mlpBaseline] = (pair || "").split("+");
    return dgPairName({ layerBaseline, attBaseline, mlpBaseline });
  });
  caption.textContent = info.hasL2
    ? `L2: ${dgPairName(state)}; completeness per layer`
    : `No L2 for ${dgPairName(state)} in the data (available: ${available.join("; ") || "none"}); completeness per layer`;
  const head = table.createTHead().insertRow();
  for (const name of ["layer", "L2 abs", "L2 rel", "Pearson", ...info.keys.map((k) => `completeness ${dgKeyName(k)}`)]) {
    const th = doc.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of info.rows) {
    const tr = body.insertRow();
    tr.dataset.layer = String(row.layer);
    const th = doc.createElement("th");
    th.scope = "row";
    th.textContent = String(row.layer);
    tr.append(th, dgCell(doc, row.abs), dgCell(doc, row.rel), dgCell(doc, row.pearson));
    for (const key of info.keys) tr.append(dgCompletenessCell(doc, row.completeness[key]));
  }
  if (info.pooled) {
    const tr = table.createTFoot().insertRow();
    const th = doc.createElement("th");
    th.scope = "row";
    th.textContent = "pooled";
    tr.append(th, dgCell(doc, info.pooled.abs), dgCell(doc, info.pooled.rel), dgCell(doc, info.pooled.pearson));
  }
  const notes = definitionList(doc, "metric-notes", DG_NOTES);
  const parts = options.onLayerBaseline ? [dgBaselinePicker(doc, state, payload, options.onLayerBaseline)] : [];
  container.replaceChildren(...parts, table, notes);
  dgMarkLayer(container, state.layer);
  return info;
}

/** Highlight the row of the layer on screen (none for "all"): class is-current, aria-current. */
export function dgMarkLayer(container, layer) {
  for (const tr of container.querySelectorAll("tbody tr")) {
    const current = tr.dataset.layer === String(layer);
    tr.classList.toggle("is-current", current);
    if (current) tr.setAttribute("aria-current", "true");
    else tr.removeAttribute("aria-current");
  }
}
