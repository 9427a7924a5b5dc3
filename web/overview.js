// overview.js — every layer of the current map as a small multiple (one canvas per layer),
// one delegated pointer handler on the grid. Rows = targets, columns = sources, as everywhere.

import { checksum } from "./data.js";
import { paintOnce, cellAt } from "./heatmap.js";

// The checksum of all layers is computed once per matrices array (switching layer or target
// redraws the same arrays).
const overviewSums = new WeakMap();

function overviewChecksum(matrices) {
  if (!overviewSums.has(matrices)) overviewSums.set(matrices, checksum(matrices));
  return overviewSums.get(matrices);
}

// container -> {render(props)}; props: {layers, matrices, size, scale, panel, selected}
export function createOverview(container, handlers) {
  const grid = d3.select(container).append("div").attr("class", "overview-grid").attr("id", "overview");
  let current = null;

  function hitOf(event) {
    const canvas = event.target.closest && event.target.closest("canvas");
    if (!canvas || !current) return null;
    const position = Number(canvas.dataset.position);
    const cell = current.panel / current.size;
    const hit = cellAt(event.offsetX, event.offsetY, current.size, current.size, { w: cell, h: cell });
    return hit ? { ...hit, position, layer: current.layers[position] } : null;
  }
  grid.on("pointermove", (event) => {
    const hit = hitOf(event);
    if (hit) handlers.onHover(hit, event);
    else handlers.onLeave(event);
  });
  grid.on("pointerleave", (event) => handlers.onLeave(event));
  grid.on("click", (event) => {
    const hit = hitOf(event);
    if (hit) handlers.onClick(hit, event);
  });

  function render(props) {
    current = props;
    const figures = grid.selectAll("figure").data(props.layers, (layer) => layer)
      .join((enter) => {
        const figure = enter.append("figure").attr("class", "overview-panel");
        figure.append("canvas").attr("class", "overview-cells");
        figure.append("figcaption");
        return figure;
      });
    figures.classed("is-selected", (layer) => layer === props.selected);
    // with per-layer colours every caption names its own range (the legend says "±max")
    const caption = (layer, position) => (props.ranges
      ? `layer ${layer}\n±${Number(props.scales[position].bound.toPrecision(3))}` : `layer ${layer}`);
    figures.select("figcaption").each(function (layer, position) {
      const text = caption(layer, position);
      if (this.textContent !== text) this.textContent = text;
    });
    figures.select("canvas")
      .attr("data-position", (layer, position) => position)
      .attr("aria-label", (layer) => `layer ${layer}: rows are targets, columns are sources`)
      .each(function (layer, position) {
        const matrix = { values: props.matrices[position], rows: props.size, cols: props.size, scale: props.scales[position] };
        paintOnce(this, matrix, props.panel, props.panel);
      });
    grid.attr("data-checksum", overviewChecksum(props.matrices)).classed("is-large", props.large);
  }
  return { render };
}
