// overview.js — every layer of the current map as a small multiple (one canvas per layer),
// one delegated pointer handler on the grid. Rows = targets, columns = sources, as everywhere.
// "All layers large" draws each panel with its token labels, the self outlines and the target
// row, all on the panel's canvas (no DOM per label, so 12 × 69 labels stay cheap). Every panel
// is a button reachable with Tab: Enter or Space opens that layer.

import { checksum } from "./data.js";
import { paintOnce, paintCells, sizeCanvas, cellAt } from "./heatmap.js";

// The checksum of all layers is computed once per matrices array (switching layer or target
// redraws the same arrays).
const overviewSums = new WeakMap();

function overviewChecksum(matrices) {
  if (!overviewSums.has(matrices)) overviewSums.set(matrices, checksum(matrices));
  return overviewSums.get(matrices);
}

const LARGE_CHARS = 10;  // label length kept in the large panels

/** Margins and label spacing of a large panel: {left, top, cell, font, every}. */
function largeLayout(props) {
  const cell = props.panel / props.size;
  const font = Math.max(7, Math.min(10, Math.floor(cell) - 1));
  const longest = Math.min(LARGE_CHARS, Math.max(1, ...props.labels.map((t) => t.length)));
  const margin = Math.ceil(longest * font * 0.6) + 6;
  return { left: margin, top: margin, cell, font, every: Math.max(1, Math.ceil(font / cell)) };
}

function clip(text) {
  return text.length > LARGE_CHARS ? text.slice(0, LARGE_CHARS - 1) + "…" : text;
}

/** One large panel: cells, labels (every `every`-th), self outlines, the target row. */
function paintLarge(canvas, props, position) {
  const lay = largeLayout(props);
  const key = [props.matrices[position], props.scales[position], props.palette, props.panel, props.target,
    props.labels, window.devicePixelRatio || 1];
  if (canvas.__drawn && canvas.__drawn.every((item, k) => item === key[k])) return lay;
  const width = lay.left + props.panel;
  const height = lay.top + props.panel;
  const ctx = sizeCanvas(canvas, width, height);
  ctx.clearRect(0, 0, width, height);
  paintCells(ctx, { values: props.matrices[position], rows: props.size, cols: props.size,
    scale: props.scales[position], palette: props.palette, hidden: props.hidden },
  { x: lay.left, y: lay.top, w: props.panel, h: props.panel });
  const fg = props.palette === "dark" ? "#e8e8e8" : "#1a1a1a";  // theme.css --fg, without a style read
  ctx.fillStyle = fg;
  ctx.font = `${lay.font}px system-ui, sans-serif`;
  ctx.textBaseline = "middle";
  for (let k = 0; k < props.size; k += lay.every) {
    const mid = (k + 0.5) * lay.cell;
    ctx.textAlign = "right";
    ctx.fillText(clip(props.labels[k]), lay.left - 3, lay.top + mid);
    ctx.save();
    ctx.translate(lay.left + mid, lay.top - 3);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "left";
    ctx.fillText(clip(props.labels[k]), 0, 0);
    ctx.restore();
  }
  ctx.lineWidth = 1;
  ctx.strokeStyle = fg;
  if (lay.cell >= 3) {
    for (let k = 0; k < props.size; k++) ctx.strokeRect(lay.left + k * lay.cell + 0.5, lay.top + k * lay.cell + 0.5, lay.cell - 1, lay.cell - 1);
  }
  if (props.target !== null && props.target < props.size) {
    ctx.lineWidth = 2;
    ctx.strokeRect(lay.left + 1, lay.top + props.target * lay.cell, props.panel - 2, lay.cell);
  }
  canvas.__drawn = key;
  return lay;
}

// container -> {render(props)}; props: {layers, matrices, size, scales, panel, selected, large,
// labels, target, palette, hidden}; handlers.onOpen(layer) for the keyboard.
export function createOverview(container, handlers) {
  const grid = d3.select(container).append("div").attr("class", "overview-grid").attr("id", "overview");
  let current = null;

  function hitOf(event) {
    const canvas = event.target.closest && event.target.closest("canvas");
    if (!canvas || !current) return null;
    const position = Number(canvas.dataset.position);
    const cell = current.panel / current.size;
    const left = Number(canvas.dataset.left || 0);
    const top = Number(canvas.dataset.top || 0);
    const hit = cellAt(event.offsetX - left, event.offsetY - top, current.size, current.size, { w: cell, h: cell });
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
  grid.on("keydown", (event) => {
    const figure = event.target.closest && event.target.closest("figure");
    if (!figure || !current || (event.key !== "Enter" && event.key !== " ")) return;
    event.preventDefault();
    handlers.onOpen(current.layers[Number(figure.dataset.position)]);
  });

  function render(props) {
    current = props;
    const figures = grid.selectAll("figure").data(props.layers, (layer) => layer)
      .join((enter) => {
        const figure = enter.append("figure").attr("class", "overview-panel").attr("tabindex", 0).attr("role", "button");
        figure.append("canvas").attr("class", "overview-cells");
        figure.append("figcaption");
        return figure;
      });
    figures.classed("is-selected", (layer) => layer === props.selected)
      .attr("data-position", (layer, position) => position)
      .attr("aria-pressed", (layer) => String(layer === props.selected))
      .attr("aria-label", (layer) => `layer ${layer}: open it as the single large layer`);
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
        if (props.large) {
          const lay = paintLarge(this, props, position);
          this.dataset.left = lay.left;
          this.dataset.top = lay.top;
          return;
        }
        this.dataset.left = 0;
        this.dataset.top = 0;
        const matrix = { values: props.matrices[position], rows: props.size, cols: props.size,
          scale: props.scales[position], palette: props.palette, hidden: props.hidden };
        paintOnce(this, matrix, props.panel, props.panel);
      });
    grid.attr("data-checksum", overviewChecksum(props.matrices)).classed("is-large", props.large);
  }
  return { render };
}
