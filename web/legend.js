// legend.js — the colour scale: gradient, range, units and normalization, in words, plus the two
// marks that are not values (not computed; self cell hidden) as swatches of their own colours.

import { markColor } from "./colorScale.js";

const STOPS = 11;

export function createLegend(container) {
  const root = d3.select(container).append("div").attr("class", "legend").attr("id", "legend");
  const svg = root.append("svg").attr("width", 420).attr("height", 34).attr("aria-hidden", "true");
  const gradient = svg.append("defs").append("linearGradient").attr("id", "legend-gradient");
  svg.append("rect").attr("x", 10).attr("y", 2).attr("width", 220).attr("height", 12)
    .attr("fill", "url(#legend-gradient)");
  const ticks = svg.append("g").attr("class", "legend-ticks");
  const marks = svg.append("g").attr("class", "legend-marks");
  const caption = root.append("p").attr("class", "legend-text");

  let drawn = null;

  // perPanel: every overview panel has its own range, so the ticks read −max / +max.
  function render({ scale, normalization, units, scope, perPanel, mode, palette = "light", hiddenSelf = false }) {
    const self = hiddenSelf ? "self cells hidden (their own swatch, not the not-computed grey)"
      : "outlined: the self cell (source = target)";
    const text = `${normalization}; ${units}; ${scope}. Blue: negative, red: positive; ${self}.`;
    const key = JSON.stringify([scale.domain, text, perPanel, mode, palette]);
    if (key === drawn) return;  // nothing changed: no DOM writes (layer / target switches)
    drawn = key;
    gradient.selectAll("stop").data(d3.range(STOPS)).join("stop")
      .attr("offset", (k) => `${(100 * k) / (STOPS - 1)}%`)
      .attr("stop-color", (k) => scale.css(scale.domain[0] + (2 * scale.bound * k) / (STOPS - 1), palette));
    const short = (v) => (v === 0 ? "0" : (v < 0 ? "−" : "+") + Number(Math.abs(v).toPrecision(3)));
    const values = perPanel ? ["−max", "0", "+max"] : [scale.domain[0], 0, scale.domain[1]].map(short);
    ticks.selectAll("text").data(values).join("text")
      .attr("x", (v, k) => 10 + 110 * k).attr("y", 28)
      .attr("text-anchor", (v, k) => ["start", "middle", "end"][k])
      .text((v) => v);
    const entries = [{ mark: "nan", text: "not computed" }, ...(hiddenSelf ? [{ mark: "hidden", text: "self hidden" }] : [])];
    const items = marks.selectAll("g").data(entries, (d) => d.mark).join((enter) => {
      const g = enter.append("g");
      g.append("rect").attr("width", 12).attr("height", 12).attr("stroke", "currentColor").attr("stroke-width", 0.5);
      g.append("text").attr("x", 16).attr("y", 10);
      return g;
    });
    items.attr("transform", (d, k) => `translate(${244 + 100 * k},2)`).attr("data-mark", (d) => d.mark);
    items.select("rect").attr("fill", (d) => markColor(d.mark, palette));
    items.select("text").text((d) => d.text);
    caption.text(text);
    root.attr("data-range", perPanel ? "per-layer" : JSON.stringify(scale.domain))
      .attr("data-normalization", normalization).attr("data-scale", mode).attr("data-palette", palette);
  }
  return { render };
}
