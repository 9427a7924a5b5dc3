// paper.js — glue for the issue-4 features: the view controls, the panels, and the exports behind
// window.ligsite.exportSVG / exportPNG / exportCSV. Exports are functions of (state, sample) only:
// the same numbers and colours as the screen (shown.js), whatever the page currently displays.
import { createViewControls } from "./viewControls.js";
import { createPanels } from "./panels.js";
import { buildViewModel } from "./viewModel.js";
import { exportSVG, exportPNG, exportCSV, exportCSVLong, exportFormat } from "./export.js";
import { divergingScale } from "./colorScale.js";
import { downloadFile, exportFileName } from "./download.js";
import { shownMap } from "./shown.js";
import { decodedMap, layerScales } from "./view.js";
import { mapKeyOf } from "./options.js";
import { figureSpecOf } from "./figureSpec.js";

/** The shown map of a state and the stored position of its current layer (last one for "all"). */
function paperShown(state, sample) {
  const shown = shownMap(sample, state, decodedMap(sample, mapKeyOf(state)));
  const layers = sample.payload.layers;
  const position = state.layer === "all" ? layers.length - 1 : layers.indexOf(state.layer);
  return { shown, position, layer: layers[position] };
}

/** The colour ranges the export of a state uses: one bound when shared, else one per panel. */
function paperColours(state, sample) {
  const { shown, position } = paperShown(state, sample);
  const colour = layerScales(shown, state.scale);
  return { shown, position, colour, main: colour.shared ? shown.scale : colour.scales[position] };
}

/** The largest ± bound the export of `state` colours with (a figure's shared colour range is the
 * largest of its panels', so no panel's cells saturate). */
export function paperRange(state, sample) {
  const { colour, main } = paperColours(state, sample);
  if (colour.shared || state.layer !== "all") return main.bound;
  return Math.max(...colour.scales.map((scale) => scale.bound));
}

/** The current view as SVG, coloured exactly like the screen (same scales, same ranges): with
 * scale=layer every panel carries its own range, and the caption says which colouring it is.
 * options.domain (a positive number) colours every panel on one fixed ±domain instead: the figures
 * spec's shared colour range across panels. */
export function paperSVG(state, sample, options = {}) {
  const view = buildViewModel(state, sample.payload, (key) => decodedMap(sample, key).layers);
  const fixed = Number(options.domain) > 0 ? divergingScale(Number(options.domain)) : null;
  const { colour, main: own } = paperColours(state, sample);
  const main = fixed || own;
  const scaleOf = (layer) => colour.scales[sample.payload.layers.indexOf(layer)];
  view.domain = main.bound;
  const palette = options.theme === "dark" ? "dark" : "light";
  view.color = (v, domain, nan) => (v === v ? main.css(v, palette) : nan);
  if (!fixed && !colour.shared) {
    for (const panel of view.panels) {
      const scale = scaleOf(panel.layer);
      panel.domain = scale.bound;
      panel.color = (v, domain, nan) => (v === v ? scale.css(v, palette) : nan);
    }
    view.perPanel = view.panels.length > 1;
  }
  view.caption += fixed ? ` · colour range ±${exportFormat(fixed.bound)} shared by all panels of the figure`
    : colour.shared ? " · colour range shared by all layers" : " · colour range per layer";
  // the screen may be dark; exports keep the light palette unless asked (issue 13), and say so
  view.caption += options.theme === "dark" ? " · dark palette" : " · light palette";
  if (view.hiddenSelf) view.caption += " · self cells hidden (dark grey), not computed: light grey";
  return exportSVG(state, view, options);
}

/** What is shown as CSV: the current layer as a matrix, or with all layers shown every layer in
 * long format (layer, target, source, value), so an "all layers" export holds all of them. */
export function paperCSV(state, sample) {
  const { shown, position } = paperShown(state, sample);
  if (state.layer === "all") return exportCSVLong(shown.layers, shown.labels, sample.payload.layers);
  return exportCSV(shown.layers[position], shown.labels);
}

/** The current view as a PNG data URL at `scale` (2 by default). */
export function paperPNG(state, sample, scale = 2, options = {}) {
  return exportPNG(paperSVG(state, sample, options), scale);
}

/** opts: {form (d3), holder, before, extras (elements), onChange, current: () => [state, sample]}. */
export function createPaperTools(opts) {
  let figureText = {};  // caption / title / font_size of exports (vcFigureText)
  const handlers = {
    onChange: opts.onChange,
    onFigureText: (options) => { figureText = options; },
    current: () => opts.current()[0],
    onExport: async (kind) => {
      const [state, sample] = opts.current();
      if (kind === "svg") downloadFile(exportFileName(state, "svg"), paperSVG(state, sample, figureText), "image/svg+xml");
      if (kind === "csv") downloadFile(exportFileName(state, "csv"), paperCSV(state, sample), "text/csv");
      if (kind === "png") downloadFile(exportFileName(state, "png"), await paperPNG(state, sample, 2, figureText), "image/png", true);
      if (kind === "spec") {  // copy figure spec: onto the clipboard, else shown to copy by hand
        const spec = figureSpecOf(state, figureText);
        const status = document.getElementById("status");
        const show = () => { status.textContent = spec; };
        if (navigator.clipboard) navigator.clipboard.writeText(spec).then(() => { status.textContent = "Figure spec copied (paste it into figures.toml)."; }, show);
        else show();
      }
    },
  };
  const controls = createViewControls(opts.form, opts.holder, opts.before, handlers);
  const panels = createPanels(document.getElementById("stepper"), opts.extras, opts.onChange);

  function render(state, sample) {
    const { shown, position, layer } = paperShown(state, sample);
    controls.update(state, sample.choices, shown.labels);
    panels.render(state, sample.payload, {
      display: shown.display[position], size: shown.size, labels: shown.labels, layer,
      target: state.target, legend: shown.legend, caption: `layer ${layer}: ${shown.legend}`,
      rankSelf: state.rankSelf === 1,
    });
  }
  return { render, announceCell: panels.announceCell, figureText: () => ({ ...figureText }) };
}
