// overview.js — every layer of the current map as a small multiple (one canvas per layer),
// one delegated pointer handler on the grid. Rows = targets, columns = sources, as everywhere.

import { checksum } from "./data.js";
import { paintCells, sizeCanvas, cellAt } from "./heatmap.js";

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
    figures.select("figcaption").text((layer) => `layer ${layer}`);
    figures.select("canvas")
      .attr("data-position", (layer, position) => position)
      .attr("aria-label", (layer) => `layer ${layer}: rows are targets, columns are sources`)
      .each(function (layer, position) {
        const ctx = sizeCanvas(this, props.panel, props.panel);
        const box = { x: 0, y: 0, w: props.panel, h: props.panel };
        paintCells(ctx, props.matrices[position], props.size, props.size, props.scale, box);
      });
    grid.attr("data-checksum", overviewChecksum(props.matrices)).classed("is-large", props.large);
  }
  return { render };
}
