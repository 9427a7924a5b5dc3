// state.js — the viewer state as one plain object, and its round trip through the URL hash.
// Pure functions only: no DOM, no data. Keys and defaults are the contract in docs/architecture.md.

export const STATE_KEYS = [
  "sample", "route", "layerBaseline", "attBaseline", "mlpBaseline",
  "layer", "target", "norm", "hideSelf", "axis", "scale", "theme",
];

export const STATE_ENUMS = {
  route: ["direct", "composed"],
  norm: ["raw", "share", "share-noself"],
  axis: ["token", "word"],
  scale: ["shared", "layer"],
  theme: ["auto", "light", "dark"],
};

// Keys left out of the hash while they hold their default, so shared links stay short.
const QUIET_DEFAULTS = { norm: "raw", hideSelf: 0, axis: "token", scale: "shared", theme: "auto" };

export function defaultState() {
  return {
    sample: null, route: "direct", layerBaseline: null, attBaseline: null, mlpBaseline: null,
    layer: null, target: null, ...QUIET_DEFAULTS,
  };
}

function parseIndex(text) {
  return /^\d+$/.test(text) ? Number(text) : null;
}

// "#sample=a&layer=3" -> {sample: "a", layer: 3}; unknown keys and malformed numbers are dropped
// here and invalid values are repaired later by resolveState, which knows the data.
export function parseHash(hash) {
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  const partial = {};
  for (const key of STATE_KEYS) {
    if (!params.has(key)) continue;
    const value = params.get(key);
    if (key === "layer") partial.layer = value === "all" ? "all" : parseIndex(value);
    else if (key === "target") partial.target = parseIndex(value);
    else if (key === "hideSelf") partial.hideSelf = value === "1" ? 1 : 0;
    else partial[key] = value;
  }
  return partial;
}

// The inverse of parseHash for a resolved state; only the baselines of the shown route are kept.
export function formatHash(state) {
  const params = new URLSearchParams();
  const skip = state.route === "direct" ? ["attBaseline", "mlpBaseline"] : ["layerBaseline"];
  for (const key of STATE_KEYS) {
    const value = state[key];
    if (skip.includes(key) || value === null || value === undefined) continue;
    if (key in QUIET_DEFAULTS && value === QUIET_DEFAULTS[key]) continue;
    params.set(key, String(value));
  }
  return "#" + params.toString();
}
