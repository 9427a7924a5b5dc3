// legend.js — the colour scale: gradient, range, units and normalization, in words.

import { formatValue } from "./format.js";

const STOPS = 11;

export function createLegend(container) {
  const root = d3.select(container).append("div").attr("class", "legend").attr("id", "legend");
  const svg = root.append("svg").attr("width", 240).attr("height", 34).attr("aria-hidden", "true");
  const gradient = svg.append("defs").append("linearGradient").attr("id", "legend-gradient");
  svg.append("rect").attr("x", 10).attr("y", 2).attr("width", 220).attr("height", 12)
    .attr("fill", "url(#legend-gradient)");
  const ticks = svg.append("g").attr("class", "legend-ticks");
  const caption = root.append("p").attr("class", "legend-text");

  function render({ scale, normalization, units, scope }) {
    gradient.selectAll("stop").data(d3.range(STOPS)).join("stop")
      .attr("offset", (k) => `${(100 * k) / (STOPS - 1)}%`)
      .attr("stop-color", (k) => scale.css(scale.domain[0] + (2 * scale.bound * k) / (STOPS - 1)));
    const values = [scale.domain[0], 0, scale.domain[1]];
    ticks.selectAll("text").data(values).join("text")
      .attr("x", (v, k) => 10 + 110 * k).attr("y", 28)
      .attr("text-anchor", (v, k) => ["start", "middle", "end"][k])
      .text((v) => formatValue(v));
    caption.text(`${normalization}; ${units}; ${scope}. Blue: negative, red: positive, grey: not computed; ` +
      "outlined: the self cell (source = target).");
    root.attr("data-range", JSON.stringify(scale.domain)).attr("data-normalization", normalization);
  }
  return { render };
}
