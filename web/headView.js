// headView.js — the head drill-down panel: a grid of the H per-head ATT z→u maps of the shown
// layer (rows = targets, one colour range over the heads), each captioned with its completeness
// and, for the selected target, its MLP u→z weight; a click (or Enter) opens one head large.
// Nothing is fetched until the view is opened (state `head`); renders from heads.js's props.

import { createHeatmap, paintOnce, checksumOf } from "./heatmap.js";
import { exportFormat } from "./export.js";

const HV_PANEL = 96;

/** container: where the section goes; handlers.onChange(partial). */
export function createHeadView(container, handlers) {
  const root = d3.select(container).append("section").attr("id", "heads-section").attr("class", "heads")
    .attr("aria-labelledby", "heads-title").attr("hidden", "");
  const title = root.append("h2").attr("id", "heads-title").text("Heads");
  const bar = root.append("div").attr("class", "heads-bar");
  const open = bar.append("button").attr("type", "button").attr("id", "heads-open")
    .text("Open the head view (loads the per-head data)").on("click", () => handlers.onChange({ head: "all" }));
  const back = bar.append("button").attr("type", "button").attr("id", "heads-back").text("All heads")
    .on("click", () => handlers.onChange({ head: "all" }));
  const close = bar.append("button").attr("type", "button").attr("id", "heads-close").text("Close the head view")
    .on("click", () => handlers.onChange({ head: null }));
  const hint = root.append("p").attr("class", "heads-hint");
  const grid = root.append("div").attr("class", "heads-grid").attr("id", "heads-grid");
  const large = root.append("div").attr("class", "heads-large");
  const map = createHeatmap(large.node(), { canvasId: "head-large", label: "one head's ATT z→u map" },
    { onHover: () => {}, onLeave: () => {}, onClick: () => {} });
  grid.on("click", (event) => {
    const figure = event.target.closest && event.target.closest("figure");
    if (figure) handlers.onChange({ head: Number(figure.dataset.head) });
  });
  grid.on("keydown", (event) => {
    const figure = event.target.closest && event.target.closest("figure");
    if (!figure || (event.key !== "Enter" && event.key !== " ")) return;
    event.preventDefault();
    handlers.onChange({ head: Number(figure.dataset.head) });
  });

  function caption(props, h) {
    const parts = [`head ${h}`, `completeness ${exportFormat(props.worst[h] ?? NaN)}`];
    if (props.weights) parts.push(`MLP weight ${exportFormat(props.weights[h])}`);
    return parts.join("\n");
  }

  /** props: {available, state} while closed; heads.js headProps (+ attBaseline) while open. */
  function render(props, palette) {
    root.attr("hidden", props && props.available ? null : "");
    if (!props || !props.available) return;
    const shown = props.open !== null && props.open !== undefined && props.matrices;
    open.attr("hidden", shown ? "" : null);
    close.attr("hidden", shown ? null : "");
    back.attr("hidden", shown && props.open !== "all" ? null : "");
    grid.attr("hidden", shown && props.open === "all" ? null : "");
    large.attr("hidden", shown && props.open !== "all" ? null : "");
    if (!shown) {
      title.text("Heads");
      hint.text("Each head's ATT z→u map and its MLP u→z weight: the two factors of the composed map.");
      return;
    }
    title.text(`Heads · layer ${props.layer} · ATT baseline ${props.attBaseline}, MLP baseline ${props.mlpBaseline}`);
    hint.text(`row: target · column: source · one colour range over the ${props.nHeads} heads (±${exportFormat(props.scale.bound)})`
      + (props.target === null ? " · select a target (token axis) to see each head's MLP weight" : ` · MLP weights for target ${props.target}`)
      + " · completeness: the per-head ratio Σ score / L farthest from 1 over targets");
    const figures = grid.selectAll("figure").data(d3.range(props.nHeads), (h) => h).join((enter) => {
      const figure = enter.append("figure").attr("class", "head-panel").attr("tabindex", 0).attr("role", "button");
      figure.append("canvas").attr("class", "overview-cells");
      figure.append("figcaption");
      return figure;
    });
    figures.attr("data-head", (h) => h).attr("aria-label", (h) => `head ${h}: open it large`);
    figures.select("figcaption").text((h) => caption(props, h));
    figures.select("canvas").attr("id", (h) => `head-${h}`).each(function (h) {
      paintOnce(this, { values: props.matrices[h], rows: props.n, cols: props.n, scale: props.scale, palette }, HV_PANEL, HV_PANEL);
      this.dataset.checksum = checksumOf(props.matrices[h]);
    });
    if (props.open !== "all") {
      const h = props.open;
      const cell = Math.max(6, Math.min(24, Math.floor(560 / props.n)));
      map.render({ values: props.matrices[h], rows: props.n, cols: props.n, cellWidth: cell, cellHeight: cell,
        rowLabels: props.labels, colLabels: props.labels, outlines: [], palette,
        highlightRows: props.target === null ? [] : [props.target], scale: props.scale });
      large.attr("data-head", h);
    }
  }
  return { render };
}
