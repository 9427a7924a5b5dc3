// viewControls.js — the issue-4 controls: normalization, hide-self, word/token axis, theme, export
// buttons, the drawer toggle for narrow screens, and the layer stepper + target picker that make
// a single-layer view usable on a phone. Native elements only; every change is a partial state.
import { selectField } from "./controls.js";
import { pinOf } from "./compare.js";

const VC_NORMS = [["raw", "raw values"], ["share", "share of Σ|v| into the target"],
  ["share-noself", "share, self excluded"]];
const VC_AXES = [["token", "tokens (subwords)"], ["word", "words (subwords combined)"]];
const VC_WORD_AGGS = [["sum", "sum of subwords"], ["mean", "mean of subwords"]];
const VC_SCALES = [["shared", "shared by all layers"], ["layer", "per layer (own ±max)"]];
const VC_THEMES = [["auto", "auto (system)"], ["light", "light"], ["dark", "dark"]];

/** A labelled checkbox bound to a 0/1 state key. */
function vcCheck(form, id, text, onChange) {
  const label = form.append("label").attr("class", "field field-check");
  const input = label.append("input").attr("type", "checkbox").attr("id", id);
  label.append("span").text(text);
  input.on("change", (event) => onChange(event.target.checked ? 1 : 0));
  return input;
}

/** A labelled <select> with fixed options, appended to `form` (a d3 selection). */
function vcSelect(form, id, text, entries, onChange) {
  const { select } = selectField(form, id, text);
  select.selectAll("option").data(entries).join("option").attr("value", (d) => d[0]).text((d) => d[1]);
  select.on("change", (event) => onChange(event.target.value));
  return select;
}

/** The drawer toggle: on narrow screens the controls fold into the page flow above the data. */
function vcDrawer(holder) {
  const button = d3.select(holder.parentNode).insert("button", () => holder)
    .attr("type", "button").attr("id", "controls-toggle").attr("class", "drawer-toggle")
    .attr("aria-controls", holder.id).attr("aria-expanded", "false").text("Controls");
  button.on("click", () => {
    const open = !holder.classList.contains("is-open");
    holder.classList.toggle("is-open", open);
    button.attr("aria-expanded", String(open)).text(open ? "Hide controls" : "Controls");
  });
  return button;
}

/** Previous / next layer buttons and a target <select>, placed before `before` (an element). */
function vcStepper(before, handlers) {
  const bar = d3.select(before.parentNode).insert("div", () => before)
    .attr("class", "stepper").attr("id", "stepper").attr("role", "group").attr("aria-label", "layer and target");
  const prev = bar.append("button").attr("type", "button").attr("id", "layerPrev").attr("aria-label", "previous layer").text("◀");
  const name = bar.append("output").attr("id", "layerName").attr("aria-live", "off");
  const next = bar.append("button").attr("type", "button").attr("id", "layerNext").attr("aria-label", "next layer").text("▶");
  const label = bar.append("label").attr("class", "field-inline");
  label.append("span").text("Target ");
  const picker = label.append("select").attr("id", "targetPicker");
  picker.on("change", (event) => handlers.onChange({ target: event.target.value === "" ? null : Number(event.target.value) }));
  // pin-and-compare: pin the current view as A, change anything to get B (compare.js)
  const pin = bar.append("button").attr("type", "button").attr("id", "pinA").text("📌 Pin as A")
    .attr("aria-label", "pin the current view as A to compare it with the next one");
  pin.on("click", () => handlers.onChange({ pin: pinOf(handlers.current()) }));
  const unpin = bar.append("button").attr("type", "button").attr("id", "unpin").text("Clear pin");
  unpin.on("click", () => handlers.onChange({ pin: null }));
  return { prev, name, next, picker, unpin };
}

/** The figure text of exports and of "copy figure spec" (the figures spec's caption, title and
 * font_size): page-local, not state, so links stay about the data. onChange gets the options. */
function vcFigureText(form, onChange) {
  const box = form.append("details").attr("class", "figure-text").attr("id", "figure-text");
  box.append("summary").text("Figure text");
  const field = (id, text, type) => {
    const label = box.append("label").attr("class", "field");
    label.append("span").text(text);
    return label.append("input").attr("type", type).attr("id", id);
  };
  const caption = field("figCaption", "Caption (empty: generated)", "text");
  const hide = vcCheck(box, "figNoCaption", "no caption", () => changed());
  const title = field("figTitle", "Title", "text");
  const size = field("figFontSize", "Font size (px)", "number").attr("min", 6).attr("max", 40).attr("step", 1);
  function changed() {
    const options = {};
    if (hide.property("checked")) options.caption = false;
    else if (caption.property("value")) options.caption = caption.property("value");
    if (title.property("value")) options.title = title.property("value");
    const px = Number(size.property("value"));
    if (px >= 6 && px <= 40) options.font_size = px;
    onChange(options);
  }
  for (const input of [caption, title, size]) input.on("input", changed);
}

/** form: the controls <form> (d3); holder: its drawer element; before: element the stepper precedes. */
export function createViewControls(form, holder, before, handlers) {
  const group = form.append("fieldset").attr("class", "view-fields").attr("id", "view-fields");
  group.append("legend").attr("class", "visually-hidden").text("Display");
  const norm = vcSelect(group, "norm", "Normalization", VC_NORMS, (v) => handlers.onChange({ norm: v }));
  const hideSelf = vcCheck(group, "hideSelf", "hide self cells", (v) => handlers.onChange({ hideSelf: v }));
  const rankSelf = vcCheck(group, "rankSelf", "rank self in top sources", (v) => handlers.onChange({ rankSelf: v }));
  const axis = vcSelect(group, "axis", "Axis", VC_AXES, (v) => handlers.onChange({ axis: v }));
  const wordAgg = vcSelect(group, "wordAgg", "Word values", VC_WORD_AGGS, (v) => handlers.onChange({ wordAgg: v }));
  const scale = vcSelect(group, "scale", "Colour range", VC_SCALES, (v) => handlers.onChange({ scale: v }));
  const theme = vcSelect(group, "theme", "Theme", VC_THEMES, (v) => handlers.onChange({ theme: v }));
  const exports = form.append("div").attr("class", "export-buttons").attr("role", "group").attr("aria-label", "export");
  for (const [kind, text] of [["svg", "SVG"], ["png", "PNG 2×"], ["csv", "CSV"], ["spec", "figure spec"]]) {
    exports.append("button").attr("type", "button").attr("id", `export-${kind}`)
      .attr("aria-label", `export the current view as ${text}`).text(`⤓ ${text}`)
      .on("click", () => handlers.onExport(kind));
  }
  vcFigureText(form, handlers.onFigureText);
  vcDrawer(holder);
  const stepper = vcStepper(before, handlers);
  let layers = [];
  let pickerLabels = null;
  stepper.prev.on("click", () => handlers.onChange({ layer: vcNeighbour(layers, handlers.current(), -1) }));
  stepper.next.on("click", () => handlers.onChange({ layer: vcNeighbour(layers, handlers.current(), 1) }));

  function update(state, choices, labels) {
    layers = choices.layers;
    norm.property("value", state.norm);
    hideSelf.property("checked", state.hideSelf === 1);
    rankSelf.property("checked", state.rankSelf === 1);
    axis.property("value", state.axis);
    wordAgg.property("value", state.wordAgg);
    d3.select("#wordAgg-field").attr("hidden", state.axis === "word" ? null : "");
    scale.property("value", state.scale);
    theme.property("value", state.theme);
    const at = state.layer === "all" ? -1 : layers.indexOf(state.layer);
    const name = state.layer === "all" ? "all layers" : `layer ${state.layer}`;
    if (stepper.name.text() !== name) stepper.name.text(name);
    stepper.prev.property("disabled", at === 0);
    stepper.next.property("disabled", at === layers.length - 1);
    if (labels !== pickerLabels) {  // options rebuilt only when the axis labels change
      pickerLabels = labels;
      const entries = [{ value: "", text: "none" }, ...labels.map((t, k) => ({ value: String(k), text: `${k} ${t}` }))];
      stepper.picker.selectAll("option").data(entries, (d) => `${d.value}\u0000${d.text}`).join("option")
        .attr("value", (d) => d.value).text((d) => d.text);
    }
    stepper.picker.property("value", state.target === null ? "" : String(state.target));
    stepper.unpin.attr("hidden", state.pin ? null : "");
  }
  return { update };
}

/** The layer before / after the current one ("all" steps from the first / last layer). */
export function vcNeighbour(layers, state, step) {
  if (state.layer === "all") return step > 0 ? layers[0] : layers[layers.length - 1];
  const at = layers.indexOf(state.layer);
  return layers[Math.max(0, Math.min(layers.length - 1, at + step))];
}
