// heads.js — the per-head drill-down as data: the composed map's two factors per head, read from
// the sample's head file (payload.head_payloads, one per ATT baseline, fetched only when the head
// view opens). att[h] is z→u [source][target] of one head, mlp[target][h] the u→z weight of that
// head for a target; Σ_h att[h][i][j] · mlp[j][h] is the composed map. Pure apart from the fetch.

import { decodeMap, maxAbs, transposeSquare } from "./data.js";
import { divergingScale } from "./colorScale.js";
import { tokenLabels } from "./tokenText.js";

/** Fetch (or read inline, single-file) and decode the head file of `att` for a manifest entry. */
export async function loadHeads(entry, base, att) {
  const inline = document.getElementById(`ligsite-heads-${entry.id}-${att}`);
  let doc;
  if (inline) doc = JSON.parse(inline.textContent);
  else {
    const file = entry.heads && entry.heads[att];
    if (!file) throw new Error(`ligsite: sample ${entry.id} has no head data for ATT baseline ${att}`);
    const response = await fetch(base + file);
    if (!response.ok) throw new Error(`ligsite: cannot load ${file}: HTTP ${response.status}`);
    doc = await response.json();
  }
  const mlp = {};
  for (const [key, stored] of Object.entries(doc.mlp)) mlp[key] = decodeMap(stored).layers;  // [nL] T*H
  return { nHeads: doc.n_heads, layers: doc.layers, att: decodeMap(doc.att).layers, mlp,
    completeness: doc.completeness.att, shown: new Map() };
}

/** The ratio farthest from 1 in a list (null / NaN ignored), or null. */
function headWorst(values) {
  let worst = null;
  for (const v of values) if (typeof v === "number" && Number.isFinite(v) && (worst === null || Math.abs(v - 1) > Math.abs(worst - 1))) worst = v;
  return worst;
}

/** The head view for a state: per head its rows = targets matrix at the shown layer (one colour
 * range over the heads, so heads compare), its completeness (worst over targets, and at the
 * target), and the MLP weight of each head for the target. */
export function headProps(state, payload, heads) {
  const position = state.layer === "all" ? payload.layers.length - 1 : payload.layers.indexOf(state.layer);
  const n = payload.tokens.length;
  const H = heads.nHeads;
  const mlpBaseline = state.mlpBaseline in heads.mlp ? state.mlpBaseline : Object.keys(heads.mlp)[0];
  if (!heads.shown.has(position)) {
    const matrices = [];
    for (let h = 0; h < H; h++) matrices.push(transposeSquare(heads.att[position * H + h], n));
    heads.shown.set(position, { matrices, scale: divergingScale(maxAbs(matrices)) });
  }
  const { matrices, scale } = heads.shown.get(position);
  const target = Number.isInteger(state.target) && state.axis !== "word" ? state.target : null;
  const weights = mlpBaseline && target !== null ? heads.mlp[mlpBaseline][position].subarray(target * H, (target + 1) * H) : null;
  const ratios = heads.completeness[position] || [];
  return {
    layer: payload.layers[position], n, nHeads: H, matrices, scale, target, mlpBaseline, weights,
    worst: Array.from({ length: H }, (_, h) => headWorst(ratios[h] || [])),
    atTarget: Array.from({ length: H }, (_, h) => (target !== null && ratios[h] ? ratios[h][target] : null)),
    open: state.head, labels: tokenLabels(payload.tokens, payload.tokens, payload.unk_text),
  };
}
