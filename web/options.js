// options.js — which control values exist for a sample, and repairing a state to a valid one.
// Pure: works on the manifest and one payload, so "only combinations in the data" is testable.

import { STATE_ENUMS } from "./state.js";

export const BASELINE_NAMES = {
  zero: "zero",
  self_input_token: "ITB (self input token)",
  itb_zero_ratio: "ITB-zeroRatio",
  itb_map_ratio: "ITB-mapRatio",
  att_itb_a0: "ATTITBa=0",
};

export function baselineName(id) {
  return BASELINE_NAMES[id] || id;
}

// Map keys of a payload ("direct:<bl>", "composed:<att>+<mlp>") -> the choices a user has.
export function choicesOf(payload) {
  const direct = [];
  const composed = [];
  for (const key of Object.keys(payload.maps)) {
    const [route, rest] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)];
    if (route === "direct") direct.push(rest);
    else if (route === "composed") composed.push(rest.split("+"));
  }
  const routes = [];
  if (direct.length) routes.push("direct");
  if (composed.length) routes.push("composed");
  return { routes, direct, composed, layers: payload.layers.slice(), nTokens: payload.tokens.length,
    nHeads: payload.n_heads || 0,
    nWords: (payload.words || payload.tokens).length };
}

export function attChoices(choices) {
  return [...new Set(choices.composed.map((pair) => pair[0]))];
}

export function mlpChoices(choices, att) {
  return choices.composed.filter((pair) => pair[0] === att).map((pair) => pair[1]);
}

export function mapKeyOf(state) {
  return state.route === "direct"
    ? `direct:${state.layerBaseline}`
    : `composed:${state.attBaseline}+${state.mlpBaseline}`;
}

function pick(value, allowed) {
  return allowed.includes(value) ? value : allowed[0];
}

// Any state + the sample's choices -> the nearest state whose every value exists in the data.
export function resolveState(state, choices) {
  const next = { ...state };
  next.route = pick(state.route, choices.routes);
  next.layerBaseline = choices.direct.length ? pick(state.layerBaseline, choices.direct) : null;
  const atts = attChoices(choices);
  next.attBaseline = atts.length ? pick(state.attBaseline, atts) : null;
  next.mlpBaseline = atts.length ? pick(state.mlpBaseline, mlpChoices(choices, next.attBaseline)) : null;
  next.layer = state.layer === "all" ? "all" : pick(state.layer, choices.layers);
  const target = state.target;
  const axisSize = pick(state.axis, STATE_ENUMS.axis) === "word" ? choices.nWords : choices.nTokens;
  next.target = Number.isInteger(target) && target >= 0 && target < axisSize ? target : null;
  for (const key of ["norm", "axis", "scale", "theme", "wordAgg"]) next[key] = pick(state[key], STATE_ENUMS[key]);
  next.hideSelf = state.hideSelf === 1 ? 1 : 0;
  next.rankSelf = state.rankSelf === 1 ? 1 : 0;
  next.embed = state.embed === 1 ? 1 : 0;
  next.pin = typeof state.pin === "string" && state.pin !== "" ? state.pin : null;
  next.head = state.head === "all" || (Number.isInteger(state.head) && state.head >= 0 && state.head < choices.nHeads)
    ? state.head : null;
  return next;
}
