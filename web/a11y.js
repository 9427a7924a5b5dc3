// a11y.js — keyboard movement over a heatmap's cells and the sentence the aria-live line reads.
// Pure: a cell and a key give the next cell; a view and a selection give one sentence.
import { formatValue, quoteToken } from "./format.js";
import { rankSources } from "./rank.js";

const A11Y_STEPS = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };

/** The cell a key moves to ({row, col}, clamped to the grid), or null for keys that do not move. */
export function gridStep(cell, key, rows, cols) {
  const at = cell || { row: 0, col: 0 };
  const clamp = (v, n) => Math.max(0, Math.min(n - 1, v));
  if (!cell && key in A11Y_STEPS) return { row: 0, col: 0 };
  if (key in A11Y_STEPS) {
    const [dr, dc] = A11Y_STEPS[key];
    return { row: clamp(at.row + dr, rows), col: clamp(at.col + dc, cols) };
  }
  if (key === "Home") return { row: at.row, col: 0 };
  if (key === "End") return { row: at.row, col: cols - 1 };
  if (key === "PageUp") return { row: clamp(at.row - 10, rows), col: at.col };
  if (key === "PageDown") return { row: clamp(at.row + 10, rows), col: at.col };
  return null;
}

/** The aria-live sentence: the selected target, the layer, its top sources with signed values. */
export function selectionSummary({ display, size, labels, layer, target, legend, rankSelf = true }, k = 3) {
  if (target === null || target === undefined) return "No target selected.";
  const top = rankSources(display.subarray(target * size, (target + 1) * size), k, rankSelf ? -1 : target)
    .map((item) => `${quoteToken(labels[item.source])} ${formatValue(item.value)}`);
  const what = top.length ? `top sources: ${top.join(", ")}` : "no computed sources";
  return `Target ${target} ${quoteToken(labels[target])}, layer ${layer}: ${what}; values: ${legend}.`;
}

/** The aria-live sentence for a keyboard-focused cell (before it is selected with Enter). */
export function cellSummary({ display, size, labels, layer }, cell) {
  const value = display[cell.row * size + cell.col];
  return `Layer ${layer}, target ${cell.row} ${quoteToken(labels[cell.row])} from source ${cell.col} `
    + `${quoteToken(labels[cell.col])}: ${formatValue(value)}. Enter selects this target.`;
}
