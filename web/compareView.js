// compareView.js — the pin-and-compare panel: A | B | A−B as three heatmaps, the pair's L2 and
// Pearson in one line, and the cells that disagree most outlined in all three. Renders from
// compare.js's props alone; hidden while nothing is pinned.

import { createHeatmap } from "./heatmap.js";
import { exportFormat } from "./export.js";
import { COMPARE_TOP } from "./compare.js";

function cvCell(size, width) {
  return Math.max(3, Math.min(16, Math.floor((width / 3 - 90) / size)));
}

/** container: where the section goes; handlers: {onHover(lines, event), onLeave()}. */
export function createCompareView(container, handlers) {
  const root = d3.select(container).append("section").attr("id", "compare-section").attr("class", "compare")
    .attr("aria-labelledby", "compare-title").attr("hidden", "");
  root.append("h2").attr("id", "compare-title").text("Pinned A vs current B");
  const summary = root.append("p").attr("class", "compare-summary").attr("id", "compare-summary");
  const grid = root.append("div").attr("class", "compare-grid");
  let current = null;
  const panel = (id, title) => {
    const figure = grid.append("figure").attr("class", "compare-panel");
    const caption = figure.append("figcaption").text(title);
    const lines = (hit) => {
      const k = hit.row * current.size + hit.col;
      const [a, b, d] = [current.valuesA[k], current.valuesB[k], current.stats.diff[k]];
      return [`target ${hit.row} “${current.labels[hit.row]}” ← source ${hit.col} “${current.labels[hit.col]}”`,
        `A ${exportFormat(a)} · B ${exportFormat(b)} · A−B ${exportFormat(d)}`];
    };
    const map = createHeatmap(figure.node(), { canvasId: id, label: `${title}: rows are targets, columns are sources` }, {
      onHover: (hit, event) => (hit ? handlers.onHover(lines(hit), event) : handlers.onLeave()),
      onLeave: () => handlers.onLeave(),
      onClick: () => {},
    });
    return { caption, map };
  };
  const panels = { a: panel("compare-a", "A"), b: panel("compare-b", "B"), diff: panel("compare-diff", "A − B") };

  function render(props, width, palette) {
    root.attr("hidden", props ? null : "");
    if (!props) return;
    if (props.error) {
      summary.text(props.error);
      grid.attr("hidden", "");
      return;
    }
    grid.attr("hidden", null);
    current = props;
    const { stats, size, labels } = props;
    summary.text(`A: ${props.nameA} | B: ${props.nameB} — L2 ‖A − B‖₂ ${exportFormat(stats.l2)}`
      + ` (relative to ‖A‖₂: ${exportFormat(stats.rel)}), Pearson ${exportFormat(stats.pearson)} over ${stats.count} cells;`
      + ` outlined: the ${Math.min(COMPARE_TOP, stats.top.length)} cells where A and B disagree most.`);
    const cell = cvCell(size, width);
    const base = { rows: size, cols: size, cellWidth: cell, cellHeight: cell, rowLabels: labels, colLabels: labels,
      outlines: stats.top, highlightRows: [], palette };
    const diagonal = (on) => (on ? labels.map((_, k) => [k, k]) : null);
    panels.a.caption.text(`A · ${props.nameA}`);
    panels.b.caption.text(`B · ${props.nameB}`);
    panels.a.map.render({ ...base, values: props.valuesA, scale: props.scale, hidden: diagonal(props.hiddenA) });
    panels.b.map.render({ ...base, values: props.valuesB, scale: props.scale, hidden: diagonal(props.hiddenB) });
    panels.diff.map.render({ ...base, values: stats.diff, scale: props.diffScale });
    root.attr("data-l2", stats.l2).attr("data-pearson", stats.pearson).attr("data-top", JSON.stringify(stats.top));
  }
  return { render };
}
