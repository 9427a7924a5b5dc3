// analysis.js — the corpus analysis page (analysis.html, written by `ligsite analyze`).
// Renders from the inlined data alone: per-layer curves of each metric for every baseline triple
// (mean line, IQR band), and the best-pairs table whose rows link into the viewer. All numbers
// are prepared in Python (ligsite/analysis.py); this module only lays them out. D3 is the global
// from vendor/d3.min.js, as in the viewer.

const METRIC_LABELS = {
  pearson: "Pearson r (direct vs composed)",
  rel: "relative L2 ‖d − c‖ / ‖d‖",
  abs: "absolute L2 ‖d − c‖",
};
const SIZE = { width: 340, height: 230, left: 52, right: 12, top: 14, bottom: 36 };

export function analysisData(doc = document) {
  return JSON.parse(doc.getElementById("analysis-data").textContent);
}

// The series of one axis and direct baseline: [{pair, points: [{layer, mean, q25, q75, ...}]}]
export function seriesFor(data, axis, layerBaseline, metric) {
  return data.series
    .filter((s) => s.axis === axis && s.layer_baseline === layerBaseline)
    .map((s) => ({ pair: `${s.att_baseline}+${s.mlp_baseline}`, att: s.att_baseline, mlp: s.mlp_baseline,
                   points: s.points[metric].filter((p) => p.mean !== null) }));
}

function panel(holder, data, axis, layerBaseline, metric, colour) {
  const series = seriesFor(data, axis, layerBaseline, metric);
  const values = series.flatMap((s) => s.points.flatMap((p) => [p.q25, p.q75, p.mean])).filter((v) => v !== null);
  const x = d3.scalePoint().domain(data.layers).range([SIZE.left, SIZE.width - SIZE.right]).padding(0.3);
  const y = d3.scaleLinear().domain(values.length ? d3.extent(values) : [0, 1]).nice()
    .range([SIZE.height - SIZE.bottom, SIZE.top]);
  const figure = holder.append("figure").attr("class", "analysis-panel");
  figure.append("figcaption").text(`${METRIC_LABELS[metric]} · direct: ${layerBaseline}`);
  const svg = figure.append("svg").attr("viewBox", `0 0 ${SIZE.width} ${SIZE.height}`)
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
}

export function drawCurves(holder, data, axis) {
  holder.selectAll("*").remove();
  const pairs = [...new Set(data.series.map((s) => `${s.att_baseline}+${s.mlp_baseline}`))];
  const colour = d3.scaleOrdinal().domain(pairs).range(d3.schemeTableau10);
  const legend = holder.append("ul").attr("class", "analysis-legend");
  for (const pair of pairs) {
    const item = legend.append("li");
    item.append("span").attr("class", "swatch").style("background", colour(pair));
    item.append("span").text(pair);
  }
  for (const metric of data.metrics) {
    const row = holder.append("div").attr("class", "analysis-row");
    for (const layerBaseline of data.layer_baselines) panel(row, data, axis, layerBaseline, metric, colour);
  }
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
  draw();
  drawTable(d3.select("#best-pairs"), data);
  window.ligsiteAnalysis = { data, ready: Promise.resolve(), setAxis: (axis) => { select.value = axis; draw(); } };
}

startAnalysis();
