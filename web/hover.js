// hover.js — the tooltip text for a hovered cell of any view: exact signed value and share.

import { formatValue, formatShare, quoteToken } from "./format.js";
import { routeTitle } from "./view.js";

function rowShare(matrix, size, target, source) {
  let total = 0;
  for (let k = target * size; k < (target + 1) * size; k++) {
    const v = matrix[k];
    if (v === v) total += Math.abs(v);
  }
  const value = matrix[target * size + source];
  return { value, share: total > 0 ? value / total : NaN };
}

// kind: "matrix" | "overview" | "focus"; hit: {row, col[, position]} in that view's cells.
export function hoverLines(kind, hit, state, props) {
  const { layers, matrices, size, tokens, share: shareMode } = props.focus;
  let position = layers.indexOf(state.layer);
  let target = hit.row;
  if (kind === "overview") position = hit.position;
  if (kind === "focus") { position = hit.row; target = state.target; }
  const source = hit.col;
  const { value, share } = rowShare(matrices[position], size, target, source);
  return [
    `layer ${layers[position]} · ${routeTitle(state)}`,
    `target ${target} ${quoteToken(tokens[target])} receives from source ${source} ${quoteToken(tokens[source])}`,
    // share modes already show shares: say it once instead of a "share of a share"
    shareMode ? `share ${formatShare(value)} of Σ|v| into the target (value ${formatValue(value)})`
      : `value ${formatValue(value)} · share ${formatShare(share)} of Σ|v| into the target`,
  ];
}
