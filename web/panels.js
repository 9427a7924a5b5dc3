// panels.js — the issue-4 panels around the viz: the aria-live line that summarizes the selection,
// the diagnostics panel, and the table view of the current matrix (built only while open, since a
// 69-token table is ~4,900 cells). Each renders from (state, data) alone.
import { renderDiagnostics, dgMarkLayer } from "./diagnostics.js";
import { renderMatrixTable, tablePageOf } from "./tableView.js";
import { viewCaptionOf } from "./viewModel.js";
import { selectionSummary, cellSummary } from "./a11y.js";

/** A <details> block with a summary line and a body div, appended to `parent` (an element). */
function pnDetails(parent, id, title, open) {
  const details = d3.select(parent).append("details").attr("id", id).attr("class", "panel");
  if (open) details.attr("open", "");
  details.append("summary").text(title);
  return { details, body: details.append("div").attr("class", "panel-body") };
}

/** live: element the aria-live line goes after; extras: element the panels are appended to. */
export function createPanels(live, extras, onChange) {
  const line = d3.select(live.parentNode).insert("p", () => live.nextSibling)
    .attr("id", "selection-live").attr("class", "selection-live").attr("aria-live", "polite");
  const diagnostics = pnDetails(extras, "diagnostics", "Diagnostics: direct vs composed (L2) and completeness", false);
  const table = pnDetails(extras, "table-view", "Table of the current matrix", false);
  let last = null;
  let page = 0;
  let pageTarget = null;  // a newly selected target turns the table to its page

  function drawTable() {
    if (!last || !table.details.property("open")) return;
    const { matrix, state, payload } = last;
    if (matrix.target !== pageTarget) {
      pageTarget = matrix.target;
      if (matrix.target !== null) page = tablePageOf(matrix.target, matrix.size);
    }
    const caption = viewCaptionOf({ ...state, layer: matrix.layer }, matrix.legend, payload.label);
    renderMatrixTable(table.body.node(), { ...matrix, caption }, page, (next) => {
      page = next;
      drawTable();
    });
  }
  table.details.on("toggle", () => {
    if (table.details.property("open")) drawTable();
    else table.body.node().replaceChildren();
  });

  // matrix: {display, size, labels, layer, target, legend, caption} of the current layer.
  function render(state, payload, matrix) {
    last = { state, payload, matrix };
    line.text(selectionSummary(matrix));
    const key = [payload.id, state.layerBaseline, state.attBaseline, state.mlpBaseline].join("|");
    if (diagnostics.body.attr("data-key") !== key) {  // redraw only when sample or baselines change
      renderDiagnostics(diagnostics.body.node(), state, payload,
        { onLayerBaseline: (id) => onChange({ layerBaseline: id }) });
      diagnostics.body.attr("data-key", key);
    } else {
      dgMarkLayer(diagnostics.body.node(), state.layer);
    }
    drawTable();
  }
  function announceCell(cell) {
    if (last && cell) line.text(cellSummary(last.matrix, cell));
  }
  return { render, announceCell };
}
