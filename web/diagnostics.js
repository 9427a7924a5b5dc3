// The diagnostics panel: per layer, how far the direct map is from the composed one (L2 absolute,
// relative, Pearson; payload "l2" keyed "<layer bl>|<att bl>+<mlp bl>") and how complete each
// attribution is (the ratio Σ score / L farthest from 1 over targets and heads), with a warning
// badge where the engine's warnings name that layer. diagnosticsRows is pure; renderDiagnostics
// only writes into the container it is given (text via textContent, so data stays inert).
import { exportFormat } from "./export.js";

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

/** Draw the panel into `container` (its children are replaced) from (state, payload). */
export function renderDiagnostics(container, state, payload) {
  const doc = container.ownerDocument;
  const info = diagnosticsRows(state, payload);
  const table = doc.createElement("table");
  table.className = "diagnostics";
  const caption = table.createCaption();
  caption.textContent = info.hasL2
    ? `Direct vs composed (${info.l2Key}) and completeness per layer`
    : `No L2 for ${info.l2Key} in the data (available: ${info.available.join(", ") || "none"}); completeness per layer`;
  const head = table.createTHead().insertRow();
  for (const name of ["layer", "L2 abs", "L2 rel", "Pearson", ...info.keys.map((k) => `completeness ${k}`)]) {
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
  container.replaceChildren(table);
  return info;
}
