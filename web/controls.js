// controls.js — native form controls bound to the state. update() only ever offers values that
// exist in the current sample's data; every change is reported as a partial state.

import { baselineName, attChoices, mlpChoices } from "./options.js";

const ROUTE_NAMES = { direct: "direct z→z (whole block)", composed: "composed ATT × MLP" };

/** A labelled, empty <select> appended to `form` (a d3 selection): {label, select}. */
export function selectField(form, id, text) {
  const label = form.append("label").attr("class", "field").attr("id", `${id}-field`);
  label.append("span").attr("class", "field-name").text(text);
  return { label, select: label.append("select").attr("id", id).attr("name", id) };
}

/** A sample's name in the select: its label (when it has one) and its text, never the id hash. */
export function sampleOptionText(sample) {
  const text = sample.text.length > 70 ? sample.text.slice(0, 69) + "…" : sample.text;
  const label = sample.label === null || sample.label === undefined || sample.label === "" ? "" : String(sample.label);
  return label ? `${label}: ${text}` : text;
}

// Options are rebuilt only when the list changes (most switches keep every list as it is).
function setOptions(select, entries, value) {
  const key = JSON.stringify(entries);
  if (select.property("__options") !== key) {
    select.property("__options", key);
    select.selectAll("option").data(entries, (d) => d.value).join("option")
      .attr("value", (d) => d.value).text((d) => d.text);
  }
  select.property("value", value ?? "");
}

export function createControls(container, handlers) {
  const form = d3.select(container).append("form").attr("class", "controls").attr("id", "controls")
    .attr("aria-label", "view controls").on("submit", (event) => event.preventDefault());
  const sample = selectField(form, "sample", "Sample");
  const route = selectField(form, "route", "Route");
  const layerBaseline = selectField(form, "layerBaseline", "Baseline");
  const attBaseline = selectField(form, "attBaseline", "ATT baseline");
  const mlpBaseline = selectField(form, "mlpBaseline", "MLP baseline");
  const layerField = form.append("label").attr("class", "field field-layer");
  const layerName = layerField.append("span").attr("class", "field-name");
  const layerRange = layerField.append("input").attr("type", "range").attr("id", "layer").attr("min", 0).attr("step", 1);
  const allField = form.append("label").attr("class", "field field-check");
  const allLayers = allField.append("input").attr("type", "checkbox").attr("id", "allLayers");
  allField.append("span").text("all layers large");
  form.append("button").attr("type", "button").attr("id", "clearTarget").text("Clear target")
    .on("click", () => handlers.onChange({ target: null }));
  form.append("button").attr("type", "button").attr("id", "copyLink").text("Copy link")
    .on("click", () => handlers.onCopy());
  let layers = [];

  for (const [field, key] of [[sample, "sample"], [route, "route"], [layerBaseline, "layerBaseline"],
    [attBaseline, "attBaseline"], [mlpBaseline, "mlpBaseline"]]) {
    field.select.on("change", (event) => handlers.onChange({ [key]: event.target.value }));
  }
  layerRange.on("input", (event) => handlers.onChange({ layer: layers[Number(event.target.value)] }));
  allLayers.on("change", (event) => handlers.onChange({ layer: event.target.checked ? "all" : layers[0] }));

  function update(state, manifest, choices) {
    layers = choices.layers;
    setOptions(sample.select, manifest.samples.map((s) => ({ value: s.id, text: sampleOptionText(s) })), state.sample);
    setOptions(route.select, choices.routes.map((r) => ({ value: r, text: ROUTE_NAMES[r] || r })), state.route);
    const named = (ids) => ids.map((id) => ({ value: id, text: baselineName(id) }));
    setOptions(layerBaseline.select, named(choices.direct), state.layerBaseline);
    setOptions(attBaseline.select, named(attChoices(choices)), state.attBaseline);
    setOptions(mlpBaseline.select, named(mlpChoices(choices, state.attBaseline)), state.mlpBaseline);
    layerBaseline.label.attr("hidden", state.route === "direct" ? null : "");
    attBaseline.label.attr("hidden", state.route === "composed" ? null : "");
    mlpBaseline.label.attr("hidden", state.route === "composed" ? null : "");
    // with all layers shown, the slider stands on the layer the focus list ranks (the last one)
    const position = state.layer === "all" ? layers.length - 1 : layers.indexOf(state.layer);
    layerRange.attr("max", layers.length - 1).property("value", position)
      .attr("aria-valuetext", state.layer === "all" ? "all layers" : `layer ${state.layer}`);
    const name = state.layer === "all" ? "Layer: all" : `Layer ${state.layer}`;
    if (layerName.text() !== name) layerName.text(name);
    allLayers.property("checked", state.layer === "all");
  }
  return { update };
}
