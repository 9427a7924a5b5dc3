// analysis.js — the corpus analysis page (analysis.html, written by `ligsite analyze`).
// Renders from the inlined data alone: per-layer curves of each metric for every baseline triple
// (mean line, IQR band), and the best-pairs table whose rows link into the viewer. All numbers
// are prepared in Python (ligsite/analysis_page.py); this module only lays them out. D3 is the global
// from vendor/d3.min.js, as in the viewer. Each plot exports through the viewer's export path: a
// standalone SVG in the viewer's palette and font (export.js), its PNG by export.js's exportPNG,
// saved by download.js; `ligsite figures` calls the same window.ligsiteAnalysis.exportSVG.

import { exportEscapeXml, exportPNG, exportTheme, exportWrap } from "./export.js";
import { analysisFileName, downloadFile } from "./download.js";

const METRIC_LABELS = {
  pearson: "Pearson r (direct vs composed)",
  rel: "relative L2 ‖d − c‖ / ‖d‖",
  abs: "absolute L2 ‖d − c‖",
};
const SIZE = { width: 340, height: 230, left: 52, right: 12, top: 14, bottom: 36 };

export function analysisData(doc = document) {
  return JSON.parse(doc.getElementById("analysis-data").textContent);
}

// The series of one axis and direct baseline: [{pair, points: [{layer, mean, q25, q75, ...}]}],
// only the given pairs ("att+mlp") and layers when those are not null.
export function seriesFor(data, axis, layerBaseline, metric, pairs = null, layers = null) {
  return data.series
    .filter((s) => s.axis === axis && s.layer_baseline === layerBaseline)
    .map((s) => ({ pair: `${s.att_baseline}+${s.mlp_baseline}`, att: s.att_baseline, mlp: s.mlp_baseline,
                   points: s.points[metric].filter((p) => p.mean !== null && (!layers || layers.includes(p.layer))) }))
    .filter((s) => !pairs || pairs.includes(s.pair));
}

/** The "att+mlp" names of every composed pair, in data order, and their colours (page = export). */
function anPairs(data) {
  return [...new Set(data.series.map((s) => `${s.att_baseline}+${s.mlp_baseline}`))];
}

function anColour(data) {
  return d3.scaleOrdinal().domain(anPairs(data)).range(d3.schemeTableau10);
}

/** A plot's full description from a partial one: axis, metric, layerBaseline, and the pairs and
 * layers shown (null: all). Unknown values throw, naming the valid ones. */
export function analysisPlotOf(data, given = {}) {
  const plot = { axis: given.axis ?? "token", metric: given.metric ?? data.metrics[0],
                 layerBaseline: given.layerBaseline ?? data.layer_baselines[0],
                 pairs: given.pairs ?? null, layers: given.layers ?? null };
  const check = (key, value, valid) => {
    if (!valid.includes(value)) throw new Error(`analysis plot: ${key} ${JSON.stringify(value)} is not one of ${valid.join(", ")}`);
  };
  check("axis", plot.axis, ["token", "word"]);
  check("metric", plot.metric, data.metrics);
  check("layerBaseline", plot.layerBaseline, data.layer_baselines);
  for (const pair of plot.pairs ?? []) check("pair", pair, anPairs(data));
  for (const layer of plot.layers ?? []) check("layer", layer, data.layers);
  return plot;
}

/** One plot as a detached <svg> (a d3 selection): per pair, the IQR band, the mean line and a point
 * per layer carrying its numbers (data-mean, data-q25, data-q75). Page and export both draw this. */
function anPlotSvg(data, plot, colour) {
  const { axis, layerBaseline, metric } = plot;
  const series = seriesFor(data, axis, layerBaseline, metric, plot.pairs, plot.layers);
  const layers = plot.layers ? data.layers.filter((layer) => plot.layers.includes(layer)) : data.layers;
  const values = series.flatMap((s) => s.points.flatMap((p) => [p.q25, p.q75, p.mean])).filter((v) => v !== null);
  const x = d3.scalePoint().domain(layers).range([SIZE.left, SIZE.width - SIZE.right]).padding(0.3);
  const y = d3.scaleLinear().domain(values.length ? d3.extent(values) : [0, 1]).nice()
    .range([SIZE.height - SIZE.bottom, SIZE.top]);
  const svg = d3.create("svg").attr("viewBox", `0 0 ${SIZE.width} ${SIZE.height}`)
    .attr("width", SIZE.width).attr("height", SIZE.height)
    .attr("data-metric", metric).attr("data-layer-baseline", layerBaseline).attr("data-axis", axis)
    .attr("role", "img").attr("aria-label", `${METRIC_LABELS[metric]} per layer, direct baseline ${layerBaseline}, ${axis} axis`);
  svg.append("g").attr("transform", `translate(0,${SIZE.height - SIZE.bottom})`).call(d3.axisBottom(x));
  svg.append("g").attr("transform", `translate(${SIZE.left},0)`).call(d3.axisLeft(y).ticks(5));
  svg.append("text").attr("class", "axis-label").attr("x", (SIZE.left + SIZE.width) / 2)
    .attr("y", SIZE.height - 4).attr("text-anchor", "middle").text("layer");
  const band = d3.area().x((p) => x(p.layer)).y0((p) => y(p.q25)).y1((p) => y(p.q75));
  const line = d3.line().x((p) => x(p.layer)).y((p) => y(p.mean));
  for (const s of series) {
    const g = svg.append("g").attr("class", "curve").attr("data-pair", s.pair);
    const banded = s.points.filter((p) => p.q25 !== null && p.q75 !== null);
    g.append("path").attr("class", "iqr").attr("d", band(banded)).attr("fill", colour(s.pair)).attr("opacity", 0.12);
    g.append("path").attr("class", "mean").attr("d", line(s.points)).attr("fill", "none")
      .attr("stroke", colour(s.pair)).attr("stroke-width", 1.5);
    g.selectAll("circle").data(s.points).join("circle").attr("class", "point")
      .attr("cx", (p) => x(p.layer)).attr("cy", (p) => y(p.mean)).attr("r", 2.5).attr("fill", colour(s.pair))
      .attr("data-layer", (p) => p.layer).attr("data-mean", (p) => p.mean)
      .attr("data-q25", (p) => p.q25).attr("data-q75", (p) => p.q75)
      .append("title").text((p) => `${s.pair}, layer ${p.layer}: mean ${p.mean.toPrecision(4)}, IQR ` +
        `${p.q25 === null ? "n/a" : p.q25.toPrecision(4)} to ${p.q75 === null ? "n/a" : p.q75.toPrecision(4)}, ${p.n} columns`);
  }
  return svg;
}

function panel(holder, data, plot, colour) {
  const figure = holder.append("figure").attr("class", "analysis-panel").style("width", `${SIZE.width}px`);
  const caption = figure.append("figcaption");
  caption.append("span").text(`${METRIC_LABELS[plot.metric]} · direct: ${plot.layerBaseline} `);
  const buttons = caption.append("span").attr("class", "plot-exports").style("white-space", "nowrap");
  for (const [kind, text] of [["svg", "SVG"], ["png", "PNG 2×"]]) {
    buttons.append("button").attr("type", "button").attr("class", "plot-export").attr("data-export", kind)
      .attr("data-metric", plot.metric).attr("data-layer-baseline", plot.layerBaseline)
      .attr("aria-label", `export this plot (${plot.metric}, direct ${plot.layerBaseline}) as ${text}`)
      .style("margin-left", "4px").style("font-size", "0.85em").text(`⤓ ${text}`);
  }
  figure.append(() => anPlotSvg(data, plot, colour).node());
}

export function drawCurves(holder, data, axis) {
  holder.selectAll("*").remove();
  const colour = anColour(data);
  const legend = holder.append("ul").attr("class", "analysis-legend");
  for (const pair of anPairs(data)) {
    const item = legend.append("li");
    item.append("span").attr("class", "swatch").style("background", colour(pair));
    item.append("span").text(pair);
  }
  for (const metric of data.metrics) {
    const row = holder.append("div").attr("class", "analysis-row");
    for (const layerBaseline of data.layer_baselines) panel(row, data, { axis, layerBaseline, metric }, colour);
  }
}

/** One plot as a standalone SVG string, like the viewer's export: the viewer's palette and font
 * inlined (no stylesheet travels with the file), a caption, a legend of the pairs shown, then the
 * page's own drawing of the plot. Options as the viewer's exportSVG: theme ("light" | "dark"),
 * caption (replaces the generated one; "" or false hides it), title, font_size (px). */
export function analysisSVG(data, given = {}, options = {}) {
  const plot = analysisPlotOf(data, given);
  const colors = exportTheme(options.theme);
  const colour = anColour(data);
  const width = SIZE.width + 32;
  const fs = Number(options.font_size) > 0 ? Number(options.font_size) : 12;
  const generated = `${METRIC_LABELS[plot.metric]} · direct baseline ${plot.layerBaseline} · ${plot.axis} axis · ` +
    "line: mean per layer, band: interquartile range";
  const captionText = typeof options.caption === "string" ? options.caption : options.caption === false ? "" : generated;
  const lines = captionText ? exportWrap(captionText, Math.floor((width - 32) / (fs * 0.55))) : [];
  const title = typeof options.title === "string" ? options.title : "";
  const titleH = title ? Math.round(fs * 1.4) + 4 : 0;
  const lineH = Math.round(fs * 1.25);
  const shown = seriesFor(data, plot.axis, plot.layerBaseline, plot.metric, plot.pairs, plot.layers).map((s) => s.pair);
  const legendTop = 16 + titleH + lines.length * lineH + (lines.length ? 6 : 0);
  const items = [];
  let [lx, row] = [16, 0];
  for (const pair of shown) {
    const itemW = 14 + Math.ceil(pair.length * 11 * 0.55) + 14;
    if (lx > 16 && lx + itemW > width - 16) [lx, row] = [16, row + 1];
    const ly = legendTop + row * 16;
    items.push(`<rect x="${lx}" y="${ly}" width="10" height="10" fill="${colour(pair)}"/>` +
      `<text x="${lx + 14}" y="${ly + 9}">${exportEscapeXml(pair)}</text>`);
    lx += itemW;
  }
  const plotTop = legendTop + (shown.length ? (row + 1) * 16 : 0) + 4;
  const height = plotTop + SIZE.height + 8;
  const svg = anPlotSvg(data, plot, colour).attr("x", 16).attr("y", plotTop);
  svg.selectAll('[fill="currentColor"]').attr("fill", colors.fg);  // d3's axes draw in currentColor
  svg.selectAll('[stroke="currentColor"]').attr("stroke", colors.fg);
  svg.selectAll("g[font-family]").attr("font-family", colors.font);
  svg.selectAll("text.axis-label").attr("fill", colors.muted).attr("font-size", 11);
  const body = new XMLSerializer().serializeToString(svg.node()).replace(' xmlns="http://www.w3.org/2000/svg"', "");
  const caption = lines.map((line, k) => `<tspan x="16" y="${16 + titleH + fs + k * lineH}">${exportEscapeXml(line)}</tspan>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${colors.font}">`
    + `<rect class="background" width="${width}" height="${height}" fill="${colors.bg}"/>`
    + (title ? `<text class="figure-title" x="16" y="${16 + Math.round(fs * 1.2)}" font-size="${Math.round(fs * 1.3)}" font-weight="bold" fill="${colors.fg}">${exportEscapeXml(title)}</text>` : "")
    + (lines.length ? `<text class="caption" font-size="${fs}" fill="${colors.fg}">${caption.join("")}</text>` : "")
    + `<g class="legend" font-size="11" fill="${colors.fg}">${items.join("")}</g>` + body + "</svg>\n";
}

/** An export button's file: the plot's SVG, or that SVG drawn at 2x as a PNG (export.js). */
async function anExport(data, plot, kind) {
  const svg = analysisSVG(data, plot);
  if (kind === "svg") downloadFile(analysisFileName(plot, "svg"), svg, "image/svg+xml");
  if (kind === "png") downloadFile(analysisFileName(plot, "png"), await exportPNG(svg, 2), "image/png", true);
}

export function drawTable(holder, data) {
  holder.selectAll("*").remove();
  const table = holder.append("table").attr("class", "best-pairs");
  const columns = ["direct", "layer", "criterion", "rank", "composed pair", "value", "mean r", "mean rel", "example"];
  table.append("thead").append("tr").selectAll("th").data(columns).join("th").text((c) => c);
  const rows = table.append("tbody").selectAll("tr").data(data.best).join("tr");
  const format = (v) => (v === null ? "n/a" : Number(v).toFixed(4));
  rows.append("td").text((r) => r.layer_baseline);
  rows.append("td").text((r) => r.layer);
  rows.append("td").text((r) => (r.criterion === "pearson_mean" ? "Pearson (high)" : "rel L2 (low)"));
  rows.append("td").text((r) => r.rank);
  rows.append("td").text((r) => `${r.att_baseline}+${r.mlp_baseline}`);
  rows.append("td").text((r) => format(r.value));
  rows.append("td").text((r) => format(r.pearson_mean));
  rows.append("td").text((r) => format(r.rel_mean));
  rows.append("td").each(function (r) {
    if (!r.href) { this.textContent = "—"; return; }
    d3.select(this).append("a").attr("href", r.href).attr("class", "viewer-link")
      .attr("title", "open the viewer on the sentence whose per-sentence mean Pearson is the median")
      .text(r.median_sample);
  });
}

export function startAnalysis() {
  const data = analysisData();
  const curves = d3.select("#curves");
  const select = document.getElementById("axis");
  const draw = () => drawCurves(curves, data, select.value);
  select.addEventListener("change", draw);
  curves.node().addEventListener("click", (event) => {  // one listener for every plot's export buttons
    const button = event.target.closest("button[data-export]");
    if (!button) return;
    const plot = { axis: select.value, metric: button.dataset.metric, layerBaseline: button.dataset.layerBaseline };
    anExport(data, plot, button.dataset.export);
  });
  draw();
  drawTable(d3.select("#best-pairs"), data);
  // automation (tests, `ligsite figures`): plot = {axis, metric, layerBaseline, pairs, layers}
  window.ligsiteAnalysis = {
    data, ready: Promise.resolve(), setAxis: (axis) => { select.value = axis; draw(); },
    exportSVG: (plot = {}, options = {}) => analysisSVG(data, { axis: select.value, ...plot }, options),
    exportPNG: (plot = {}, options = {}, scale = 2) => exportPNG(analysisSVG(data, { axis: select.value, ...plot }, options), scale),
    rasterize: (svg, scale = 2) => exportPNG(svg, scale),
  };
}

startAnalysis();
