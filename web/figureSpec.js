// figureSpec.js — "copy figure spec": the current view as a `[[figure]]` entry of a figures TOML
// (docs/figures.md), so a figure and a link are the same thing: `ligsite figures` draws it through
// this viewer's own export, and a one-panel figure is that export unchanged. The figure text set
// in the export controls (caption replaced or hidden, title, font size) is written when set.

/** A TOML string literal (basic string, escaped). */
function fsString(text) {
  return `"${String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}"`;
}

/** The figure name: letters, digits, '-' and '_' only (it becomes the file name). */
function fsName(state) {
  const layer = state.layer === "all" ? "all" : `L${state.layer}`;
  return `${state.sample}-${state.route}-${layer}`.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 64);
}

/** The `[[figure]]` TOML of a resolved state (theme: the export's, light unless the page is dark)
 * and of the figure text options {caption (string, or false: hidden), title, font_size}. */
export function figureSpecOf(state, options = {}) {
  const baselines = state.route === "direct" ? `{ layer = ${fsString(state.layerBaseline)} }`
    : `{ att = ${fsString(state.attBaseline)}, mlp = ${fsString(state.mlpBaseline)} }`;
  const lines = [
    "[[figure]]",
    `name = ${fsString(fsName(state))}`,
    `sample = ${fsString(state.sample)}`,
    `route = ${fsString(state.route)}`,
    `baselines = ${baselines}`,
    `layers = ${state.layer === "all" ? '"all"' : state.layer}`,
    ...(Number.isInteger(state.target) ? [`target = ${state.target}`] : []),
    `norm = ${fsString(state.norm)}`,
    `hide_self = ${state.hideSelf === 1 ? "true" : "false"}`,
    `axis = ${fsString(state.axis)}`,
    ...(state.axis === "word" ? [`word_agg = ${fsString(state.wordAgg === "mean" ? "mean" : "sum")}`] : []),
    `scale = ${fsString(state.scale === "layer" ? "layer" : "shared")}`,
    `theme = ${fsString(state.theme === "dark" ? "dark" : "light")}`,
  ];
  if (options.caption === false) lines.push("caption = false");
  else if (typeof options.caption === "string" && options.caption) lines.push(`caption = ${fsString(options.caption)}`);
  if (typeof options.title === "string" && options.title) lines.push(`title = ${fsString(options.title)}`);
  if (Number(options.font_size) > 0) lines.push(`font_size = ${Number(options.font_size)}`);
  return lines.join("\n") + "\n";
}
