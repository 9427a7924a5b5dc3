// focus.js — one target: what it receives across all layers (layers x sources) and a ranked
// top-k list of its sources at the chosen layer, with signed values and shares.

import { createHeatmap } from "./heatmap.js";
import { formatValue, formatShare, quoteToken } from "./format.js";
import { rankSources } from "./rank.js";

export function targetAcrossLayers(matrices, size, target) {
  const values = new Float32Array(matrices.length * size);
  matrices.forEach((matrix, l) => values.set(matrix.subarray(target * size, (target + 1) * size), l * size));
  return values;
}

// One array per (matrices, target), so a layer switch redraws the focus grid from its cached
// bitmap instead of building a new one.
const acrossCache = new WeakMap();

function cachedAcross(matrices, size, target) {
  if (!acrossCache.has(matrices)) acrossCache.set(matrices, new Map());
  const byTarget = acrossCache.get(matrices);
  if (!byTarget.has(target)) byTarget.set(target, targetAcrossLayers(matrices, size, target));
  return byTarget.get(target);
}

export function createFocus(container, handlers) {
  const root = d3.select(container).append("section").attr("class", "focus").attr("id", "focus")
    .attr("aria-labelledby", "focus-title");
  const title = root.append("h2").attr("id", "focus-title");
  const hint = root.append("p").attr("class", "focus-hint");
  const body = root.append("div").attr("class", "focus-body");
  const gridHolder = body.append("div").attr("class", "focus-grid");
  const listHolder = body.append("div").attr("class", "focus-list");
  const listTitle = listHolder.append("h3");
  const list = listHolder.append("ol").attr("id", "topk");
  const grid = createHeatmap(gridHolder.node(), { canvasId: "focus-matrix", label: "target across layers" }, handlers);
  const strip = root.append("details").attr("id", "sensitivity-panel").attr("class", "panel");  // sensitivity.js
  strip.append("summary").text("Baseline sensitivity: these sources under every computed map");
  strip.append("div").attr("id", "sensitivity-holder").attr("class", "sensitivity-holder");
  strip.on("toggle", () => handlers.onToggle && handlers.onToggle());

  function render(props) {
    root.attr("hidden", props.target === null ? "" : null);
    if (props.target === null) return;
    const { tokens, target, layers, matrices, size, scale, rankScale, rankPosition, share } = props;
    title.text(`Target ${target} ${quoteToken(tokens[target])}: what it receives, layer by layer`);
    hint.text("row: layer · column: source · the outlined column is the target itself"
      + (Array.isArray(scale) ? " · each row coloured on its own layer's range" : ""));
    const values = cachedAcross(matrices, size, target);
    grid.render({
      values, rows: layers.length, cols: size, cellWidth: props.cell, cellHeight: Math.max(props.cell, 10),
      rowLabels: layers.map((layer) => `layer ${layer}`), colLabels: tokens,
      outlines: layers.map((layer, l) => [l, target]), highlightRows: [rankPosition], scale,
      palette: props.palette, hidden: props.hiddenSelf ? layers.map((layer, l) => [l, target]) : null,
    });
    const row = matrices[rankPosition].subarray(target * size, (target + 1) * size);
    const ranked = rankSources(row, props.k, props.rankSelf ? -1 : target);
    const self = props.rankSelf ? "" : ", self excluded";
    listTitle.text(share ? `Top ${ranked.length} sources at layer ${layers[rankPosition]} (signed share of Σ|v| into the target${self})`
      : `Top ${ranked.length} sources at layer ${layers[rankPosition]} (signed value, share of Σ|v| into the target${self})`);
    const items = list.selectAll("li").data(ranked).join((enter) => {
      const li = enter.append("li");
      li.append("span").attr("class", "swatch");
      li.append("span").attr("class", "token");
      li.append("span").attr("class", "value");
      li.append("span").attr("class", "share");
      return li;
    });
    items.attr("data-source", (d) => d.source);
    items.select(".swatch").style("background", (d) => rankScale.css(d.value, props.palette));
    items.select(".token").text((d) => `${d.source} ${quoteToken(tokens[d.source])}`);
    // in share modes the value already is the share: show it once, as a percentage
    items.select(".value").text((d) => (share ? formatShare(d.value) : formatValue(d.value)));
    items.select(".share").text((d) => (share ? "" : formatShare(d.share)));
  }
  return { render };
}
