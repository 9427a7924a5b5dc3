// heatmap.js — a labelled matrix on canvas: cells drawn as one image, labels in SVG (D3),
// outlines and hover on a separate overlay canvas, one delegated pointer handler.
// render(props) is a pure function of its props; nothing here knows what the values mean.

import { checksum } from "./data.js";
import { gridStep } from "./a11y.js";

// Each matrix is turned into a T x T bitmap once per colour scale and palette (keyed by its values
// array, then by the scale object and the palette name), so switching layer, target or scale mode
// back only scales cached bitmaps onto the screen. `scale` is one scale, or an array with one
// scale per row (per-layer colours in the focus panel). `hidden`: [row, col] cells drawn with the
// hidden-self mark (the same for a given values array: hiding self makes new arrays).
const cellBitmaps = new WeakMap();

function bitmapOf(values, rows, cols, scale, palette = "light", hidden = null) {
  if (!cellBitmaps.has(values)) cellBitmaps.set(values, new Map());
  const cached = cellBitmaps.get(values);
  if (!cached.has(scale)) cached.set(scale, new Map());
  const byPalette = cached.get(scale);
  const hit = byPalette.get(palette);
  if (hit && hit.width === cols && hit.height === rows) return hit;
  const canvas = document.createElement("canvas");
  canvas.width = cols;
  canvas.height = rows;
  const context = canvas.getContext("2d");
  const image = context.createImageData(cols, rows);
  const pixels = new Uint32Array(image.data.buffer);
  const flat = hidden ? hidden.map(([r, c]) => r * cols + c) : null;
  if (!Array.isArray(scale)) scale.fillPixels(values, 0, rows * cols, pixels, palette, flat);
  else for (let row = 0; row < rows; row++) scale[row].fillPixels(values, row * cols, (row + 1) * cols, pixels, palette, flat);
  context.putImageData(image, 0, 0);
  byPalette.set(palette, canvas);
  return canvas;
}

// The checksum of a drawn values array, computed once per array (arrays are cached upstream).
const drawnSums = new WeakMap();

export function checksumOf(values) {
  if (!drawnSums.has(values)) drawnSums.set(values, checksum([values]));
  return drawnSums.get(values);
}

// Paint rows*cols values (row-major) into ctx, one flat cell per value, box = {x, y, w, h}.
// props: {values, rows, cols, scale, palette, hidden} (see bitmapOf).
export function paintCells(ctx, props, box) {
  const { values, rows, cols, scale, palette, hidden } = props;
  ctx.clearRect(box.x, box.y, box.w, box.h);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(bitmapOf(values, rows, cols, scale, palette, hidden), 0, 0, cols, rows, box.x, box.y, box.w, box.h);
}

// Size a canvas in CSS pixels, sharp on high-density screens; returns its scaled context.
export function sizeCanvas(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(width * ratio));
  const h = Math.max(1, Math.round(height * ratio));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  if (canvas.style.width !== `${width}px`) canvas.style.width = `${width}px`;
  if (canvas.style.height !== `${height}px`) canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}

// Pointer offset in CSS pixels -> {row, col} or null outside the cells.
export function cellAt(x, y, rows, cols, cell) {
  const row = Math.floor(y / cell.h);
  const col = Math.floor(x / cell.w);
  return row >= 0 && row < rows && col >= 0 && col < cols ? { row, col } : null;
}

function shortLabel(text, max) {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

function drawLabels(svg, props, layout) {
  const { rows, cols, rowLabels, colLabels, highlightRows } = props;
  const { left, top, right, cell, font, every, angle } = layout;
  const key = JSON.stringify([rowLabels, colLabels, left, top, cell, font]);
  if (svg.property("__labels") === key) {
    svg.select("g.rows").selectAll("text").classed("is-target", (d) => highlightRows.includes(d.k));
    return;
  }
  svg.property("__labels", key);
  svg.attr("width", left + cols * cell.w + right).attr("height", top + rows * cell.h + 4);
  svg.select("g.rows").attr("font-size", font).selectAll("text")
    .data(rowLabels.map((t, k) => ({ t, k })).filter((d) => d.k % every.rows === 0), (d) => d.k)
    .join("text")
    .attr("x", left - 4).attr("y", (d) => top + (d.k + 0.5) * cell.h).attr("dy", "0.35em")
    .attr("text-anchor", "end").classed("is-target", (d) => highlightRows.includes(d.k))
    .text((d) => shortLabel(d.t, 14));
  svg.select("g.cols").attr("font-size", font).selectAll("text")
    .data(colLabels.map((t, k) => ({ t, k })).filter((d) => d.k % every.cols === 0), (d) => d.k)
    .join("text")
    .attr("transform", (d) => `translate(${left + (d.k + 0.5) * cell.w},${top - 4}) rotate(${angle})`)
    .attr("dy", "0.35em").text((d) => shortLabel(d.t, 14));
}

function layoutOf(props) {
  const cell = { w: props.cellWidth, h: props.cellHeight };
  const font = Math.max(7, Math.min(12, Math.min(cell.w, cell.h) - 1));
  const longest = (labels) => Math.min(14, Math.max(1, ...labels.map((t) => t.length)));
  const left = Math.ceil(longest(props.rowLabels) * font * 0.62) + 8;
  // Column labels slant at -60° when neighbours are far enough apart not to overlap, else stand
  // upright; a slanted label reaches past the last column, hence the right margin.
  const slanted = cell.w * 0.87 >= font * 1.2;
  const colText = longest(props.colLabels) * font * 0.6;
  const top = Math.ceil(slanted ? colText * 0.87 : colText) + 8;
  const right = slanted ? Math.ceil(colText * 0.5) + 4 : 4;
  const every = { rows: Math.ceil(font / cell.h), cols: Math.ceil(font / cell.w) };
  return { cell, font, left, top, right, every, angle: slanted ? -60 : -90 };
}

function drawOverlay(ctx, layout, props, hover) {
  const { cell } = layout;
  ctx.clearRect(0, 0, props.cols * cell.w + 2, props.rows * cell.h + 2);
  // Every mark is a dark line with a light line inside it, so it shows on any cell colour and
  // on the light and the dark page alike.
  const mark = (x, y, w, h, width) => {
    ctx.lineWidth = width;
    ctx.strokeStyle = "rgba(0,0,0,0.8)";
    ctx.strokeRect(x + width / 2, y + width / 2, w - width, h - width);
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(255,255,255,0.85)";
    if (w > 2 * width + 2 && h > 2 * width + 2) ctx.strokeRect(x + width + 0.5, y + width + 0.5, w - 2 * width - 1, h - 2 * width - 1);
  };
  for (const [r, c] of props.outlines) mark(c * cell.w, r * cell.h, cell.w, cell.h, 1);
  for (const r of props.highlightRows) mark(0, r * cell.h, props.cols * cell.w, cell.h, 2);
  if (hover) mark(hover.col * cell.w, hover.row * cell.h, cell.w, cell.h, 2);
}

// Paint `values` into a canvas unless it already shows exactly these values, scale and size
// (layer and target switches redraw most canvases with what they already show).
export function paintOnce(canvas, props, width, height) {
  const drawn = [props.values, props.scale, props.palette, width, height, window.devicePixelRatio || 1];
  if (canvas.__drawn && canvas.__drawn.every((item, k) => item === drawn[k])) return;
  const ctx = sizeCanvas(canvas, width, height);
  paintCells(ctx, props, { x: 0, y: 0, w: width, h: height });
  canvas.__drawn = drawn;
}

// container -> {render(props), setHover(cell)}; events go to handlers.onHover/onClick/onLeave.
export function createHeatmap(container, { canvasId, label, clickRows = false }, handlers) {
  const stage = d3.select(container).append("div").attr("class", "heatmap-stage");
  const svg = stage.append("svg").attr("class", "heatmap-axes").attr("aria-hidden", "true");
  svg.append("g").attr("class", "rows");
  svg.append("g").attr("class", "cols");
  const cells = stage.append("canvas").attr("class", "heatmap-cells").attr("role", "img")
    .attr("aria-label", label);
  if (canvasId) cells.attr("id", canvasId);
  const overlay = stage.append("canvas").attr("class", "heatmap-overlay");
  let current = null;
  if (clickRows) {  // a row's token label selects that row, like a click on its self cell
    svg.classed("rows-clickable", true).select("g.rows").on("click", (event) => {
      const datum = event.target.__data__;
      if (current && datum && datum.k < current.rows) handlers.onClick({ row: datum.k, col: Math.min(datum.k, current.cols - 1) }, event);
    });
  }
  let layout = null;
  let overlayCtx = null;

  function eventCell(event) {
    return current && cellAt(event.offsetX, event.offsetY, current.rows, current.cols, layout.cell);
  }
  overlay.on("pointermove", (event) => {
    const hit = eventCell(event);
    drawOverlay(overlayCtx, layout, current, hit);
    handlers.onHover(hit, event);
  });
  overlay.on("pointerleave", (event) => {
    drawOverlay(overlayCtx, layout, current, null);
    handlers.onLeave(event);
  });
  overlay.on("click", (event) => {
    const hit = eventCell(event);
    if (hit) handlers.onClick(hit, event);
  });
  // Keyboard (issue 4): the overlay takes focus; arrows move a focus cell, Enter acts like a click.
  overlay.attr("tabindex", 0).attr("role", "application").attr("aria-roledescription", "heatmap")
    .attr("aria-label", `${label}: arrow keys move between cells, Enter selects, Escape clears`);
  let keyCell = null;
  function keyEvent(cell) {
    const box = overlay.node().getBoundingClientRect();
    return { clientX: box.left + (cell.col + 0.5) * layout.cell.w, clientY: box.top + (cell.row + 0.5) * layout.cell.h };
  }
  overlay.on("keydown", (event) => {
    if (!current) return;
    if (event.key === "Enter" && keyCell) {
      event.preventDefault();
      handlers.onClick(keyCell, keyEvent(keyCell));
      return;
    }
    const next = gridStep(keyCell, event.key, current.rows, current.cols);
    if (!next) return;
    event.preventDefault();
    keyCell = next;
    drawOverlay(overlayCtx, layout, current, next);
    if (handlers.onFocusCell) handlers.onFocusCell(next, keyEvent(next));
  });

  function render(props) {
    current = props;
    layout = layoutOf(props);
    const width = props.cols * layout.cell.w;
    const height = props.rows * layout.cell.h;
    drawLabels(svg, props, layout);
    for (const canvas of [cells, overlay]) canvas.style("left", `${layout.left}px`).style("top", `${layout.top}px`);
    paintOnce(cells.node(), props, width, height);
    overlayCtx = sizeCanvas(overlay.node(), width, height);
    if (keyCell && (keyCell.row >= props.rows || keyCell.col >= props.cols)) keyCell = null;
    drawOverlay(overlayCtx, layout, props, document.activeElement === overlay.node() ? keyCell : null);
    cells.attr("data-checksum", checksumOf(props.values))
      .attr("data-tokens", JSON.stringify(props.colLabels));
  }
  return { render, node: cells.node() };
}
