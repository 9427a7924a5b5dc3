// figureSpec.js — "copy figure spec": the current view as a `[[figure]]` entry of a figures TOML
// (docs/figures.md), so a figure and a link are the same thing: `ligsite figures` draws it through
// this viewer's own export, and a one-panel figure without a caption is that export unchanged.
// State keys the spec cannot express (scale=layer, wordAgg=mean) are named in a comment.

/** A TOML string literal (basic string, escaped). */
function fsString(text) {
  return `"${String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/[\u0000-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}"`;
}

/** The figure name: letters, digits, '-' and '_' only (it becomes the file name). */
function fsName(state) {
  const layer = state.layer === "all" ? "all" : `L${state.layer}`;
  return `${state.sample}-${state.route}-${layer}`.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 64);
}

/** The `[[figure]]` TOML of a resolved state (theme: the export's, light unless the page is dark). */
export function figureSpecOf(state) {
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
    `theme = ${fsString(state.theme === "dark" ? "dark" : "light")}`,
  ];
  const lost = [];
  if (state.scale === "layer") lost.push("scale=layer (figures use the shared colour range)");
  if (state.axis === "word" && state.wordAgg === "mean") lost.push("wordAgg=mean (figures sum subwords)");
  if (lost.length) lines.push(`# not expressible in a figures spec: ${lost.join("; ")}`);
  return lines.join("\n") + "\n";
}
