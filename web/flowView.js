// flowView.js — the flow panel of the focus view: the cumulative map (rows: depth, from the top
// layer's output down to the first layer's input; columns: positions) and a layered graph of the
// share-weighted paths, pruned by a threshold slider. The numbers come from flow.js; the slider is
// view-local (it prunes the drawing only, never the values).

import { flowFromTarget } from "./flow.js";
import { createHeatmap, sizeCanvas } from "./heatmap.js";
import { divergingScale } from "./colorScale.js";
import { shownMap } from "./shown.js";
import { decodedMap } from "./view.js";
import { mapKeyOf } from "./options.js";
import { maxAbs } from "./data.js";

const FV_ROW = 26;

/** The flow of the state's target (null without one), cached on the sample per map, axis, target, layer. */
export function flowProps(state, sample) {
  if (state.target === null || state.target === undefined) return null;
  const plain = { ...state, norm: "raw", hideSelf: 0 };  // flow normalizes on its own (shares incl. self)
  const map = shownMap(sample, plain, decodedMap(sample, mapKeyOf(plain)));
  const layers = sample.payload.layers;
  const top = state.layer === "all" ? layers.length - 1 : layers.indexOf(state.layer);
  const key = `${mapKeyOf(state)}|${state.axis}|${state.wordAgg}|${state.target}|${top}`;
  if (!sample.flows) sample.flows = new Map();
  if (!sample.flows.has(key)) {
    const flow = flowFromTarget(map.layers, map.size, state.target, top);
    const rows = flow.levels.map((level) => Float32Array.from(level.weights));
    const values = new Float32Array(rows.length * map.size);
    rows.forEach((row, k) => values.set(row, k * map.size));
    // the colour range leaves out the top row (the target itself, weight 1) so deeper rows show
    sample.flows.set(key, { ...flow, values, scale: divergingScale(maxAbs(rows.slice(1)) || 1),
      rowLabels: flow.levels.map((level) => (level.below === null ? `L${layers[top]} out` : `L${layers[level.below]} in`)) });
  }
  return { ...sample.flows.get(key), n: map.size, labels: map.labels, target: state.target, top: layers[top] };
}

const FV_MAX_EDGES = 600;  // the strongest edges kept when more pass the threshold
const FV_WIDTHS = [0.75, 1.5, 2.5, 4];

/** Draw the layered graph: one row of nodes per level, an edge where |share × weight| reaches
 * `threshold` × the largest edge between the same two levels (deep levels carry smaller weights),
 * at most FV_MAX_EDGES of them (the strongest); width ∝ |edge| / that largest edge in four steps,
 * red positive, blue negative. Edges are stroked in one path per (sign, width), so a draw stays
 * a few milliseconds. Returns the number of edges drawn. */
function fvGraph(canvas, props, width, threshold, palette) {
  const levels = props.levels.length;
  const n = props.n;
  const height = levels * FV_ROW;
  const ctx = sizeCanvas(canvas, width, height);
  ctx.clearRect(0, 0, width, height);
  const x = (k) => ((k + 0.5) * width) / n;
  // pass 1: each edge's size relative to the largest between its two levels (0: not drawn)
  const rel = new Float32Array((levels - 1) * n * n);
  for (let a = 0; a < levels - 1; a++) {
    const w = props.levels[a].weights;
    const s = props.shares[a];
    let biggest = 0;
    for (let j = 0; j < n; j++) {
      if (w[j] === 0) continue;
      for (let i = 0; i < n; i++) biggest = Math.max(biggest, Math.abs(s[i * n + j] * w[j]));
    }
    if (biggest === 0) continue;
    for (let j = 0; j < n; j++) {
      if (w[j] === 0) continue;
      for (let i = 0; i < n; i++) {
        const r = Math.abs(s[i * n + j] * w[j]) / biggest;
        if (r >= threshold && r > 0) rel[(a * n + i) * n + j] = r;
      }
    }
  }
  // at most FV_MAX_EDGES: raise the cut to the FV_MAX_EDGES-th largest size (a typed sort, no objects)
  let cut = 0;
  const kept = rel.filter((r) => r > 0);
  if (kept.length > FV_MAX_EDGES) cut = kept.sort()[kept.length - FV_MAX_EDGES];
  const edges = [];  // [level, source i, target j, signed edge, relative size]
  for (let k = 0; k < rel.length; k++) {
    const r = rel[k];
    if (r === 0 || r < cut || edges.length >= FV_MAX_EDGES) continue;
    const a = Math.floor(k / (n * n));
    const i = Math.floor((k % (n * n)) / n);
    const j = k % n;
    edges.push([a, i, j, props.shares[a][i * n + j] * props.levels[a].weights[j], r]);
  }
  for (const [sign, colour] of [[1, "rgba(178,24,43,0.75)"], [-1, "rgba(33,102,172,0.75)"]]) {
    FV_WIDTHS.forEach((lineWidth, bucket) => {
      ctx.beginPath();
      for (const [a, i, j, e, rel] of edges) {
        if (Math.sign(e) !== sign || Math.min(3, Math.floor(rel * 4)) !== bucket) continue;
        ctx.moveTo(x(j), a * FV_ROW + FV_ROW / 2);
        ctx.lineTo(x(i), (a + 1) * FV_ROW + FV_ROW / 2);
      }
      ctx.strokeStyle = colour;
      ctx.lineWidth = lineWidth;
      ctx.stroke();
    });
  }
  ctx.fillStyle = palette === "dark" ? "#e8e8e8" : "#1a1a1a";  // theme.css --fg (no style read mid-render)
  for (let a = 0; a < levels; a++) {
    for (let k = 0; k < n; k++) {
      if (props.levels[a].weights[k] !== 0) ctx.fillRect(x(k) - 1.5, a * FV_ROW + FV_ROW / 2 - 1.5, 3, 3);
    }
  }
  return edges.length;
}

/** container: the focus panel; onToggle(): called when the reader opens or closes the panel (the
 * flow is computed only while it is open, so a target selection stays cheap). */
export function createFlowView(container, onToggle = () => {}) {
  const panel = d3.select(container).append("details").attr("id", "flow-panel").attr("class", "panel flow-panel");
  panel.append("summary").text("Flow across layers: where this target's information came from");
  panel.on("toggle", () => onToggle());
  const root = panel.append("section").attr("id", "flow").attr("class", "flow").attr("hidden", "");
  root.append("h3").attr("id", "flow-title");
  const legend = root.append("p").attr("class", "flow-legend");
  const mapHolder = root.append("div").attr("class", "flow-map");
  const map = createHeatmap(mapHolder.node(), { canvasId: "flow-map", label: "flow: weight of each position at each depth" },
    { onHover: () => {}, onLeave: () => {}, onClick: () => {} });
  const control = root.append("label").attr("class", "field-inline flow-threshold");
  control.append("span").text("Graph: edges of at least ");
  const slider = control.append("input").attr("type", "range").attr("id", "flowThreshold")
    .attr("min", 0).attr("max", 50).attr("step", 1).property("value", 5);
  const shownPct = control.append("output").attr("id", "flowThresholdValue").text("5%");
  control.append("span").text(" of the largest");
  const graph = root.append("canvas").attr("id", "flow-graph").attr("class", "flow-graph");
  let last = null;

  function drawGraph() {
    if (!last) return;
    const pct = Number(slider.property("value"));
    shownPct.text(`${pct}%`);
    const width = Math.min(900, Math.max(240, last.props.n * 10));
    graph.attr("data-edges", fvGraph(graph.node(), last.props, width, pct / 100, last.palette));
  }
  slider.on("input", drawGraph);

  /** Is the panel open (the caller computes the flow only then)? */
  function isOpen() {
    return panel.property("open");
  }

  function render(props, palette) {
    root.attr("hidden", props ? null : "");
    if (!props) return;
    if (last && last.props.values === props.values && last.palette === palette) return;  // nothing new
    last = { props, palette };
    root.select("#flow-title").text(`Flow across layers: where target ${props.target} “${props.labels[props.target]}” at the output of layer ${props.top} came from`);
    legend.text("Each stored layer's map as signed column shares (v / Σ|v| over sources, the self cell included, so the residual path is kept), "
      + "multiplied from this layer down to the first: row = depth, column = position; a target not computed contributes 0.");
    const cell = Math.max(4, Math.min(16, Math.floor(720 / props.n)));
    map.render({ values: props.values, rows: props.levels.length, cols: props.n, cellWidth: cell, cellHeight: Math.max(cell, 10),
      rowLabels: props.rowLabels, colLabels: props.labels, outlines: [[0, props.target]], highlightRows: [], scale: props.scale, palette });
    d3.select("#flow-map").attr("data-values", JSON.stringify(Array.from(props.values)));
    drawGraph();
  }
  return { render, isOpen };
}
