// state.js — the viewer state as one plain object, and its round trip through the URL hash.
// Pure functions only: no DOM, no data. Keys and defaults are the contract in docs/architecture.md.

export const STATE_KEYS = [
  "sample", "route", "layerBaseline", "attBaseline", "mlpBaseline",
  "layer", "target", "norm", "hideSelf", "axis", "scale", "theme", "wordAgg", "rankSelf", "pin", "head", "embed",
];

export const STATE_ENUMS = {
  route: ["direct", "composed"],
  norm: ["raw", "share", "share-noself"],
  axis: ["token", "word"],
  scale: ["shared", "layer"],
  theme: ["auto", "light", "dark"],
  wordAgg: ["sum", "mean"],
};

// What a key meant when links still left it out (before issue 13): a link that has some keys but
// not this one keeps showing what it showed when it was written.
export const LEGACY_DEFAULTS = {
  norm: "raw", hideSelf: 0, axis: "token", scale: "shared", theme: "auto", wordAgg: "sum", rankSelf: 1, embed: 0,
};

// What a fresh visit shows (no hash): self cells hidden, so the first view shows structure rather
// than a diagonal, and "top sources" leave the self cell out. A site may override these
// (manifest "defaults"); every key is written into the URL, so links never depend on them.
export const SITE_DEFAULTS = { ...LEGACY_DEFAULTS, hideSelf: 1, rankSelf: 0 };

const FLAGS = ["hideSelf", "rankSelf", "embed"];

export function defaultState(siteDefaults = {}) {
  return {
    sample: null, route: "direct", layerBaseline: null, attBaseline: null, mlpBaseline: null,
    layer: null, target: null, pin: null, head: null, ...SITE_DEFAULTS, ...siteDefaults,
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
    else if (FLAGS.includes(key)) partial[key] = value === "1" ? 1 : 0;
    else if (key === "pin") partial.pin = value === "" ? null : value;  // the pinned state A (compare.js)
    else if (key === "head") partial.head = value === "all" ? "all" : parseIndex(value);  // head view (heads.js)
    else partial[key] = value;
  }
  return partial;
}

/** The whole state a URL hash stands for: a link (a hash with keys) reads absent keys with their
 * legacy defaults; no hash at all is a fresh visit and gets the site's defaults. */
export function stateFromHash(hash, siteDefaults = {}) {
  const partial = parseHash(hash);
  const base = Object.keys(partial).length ? { ...defaultState(), ...LEGACY_DEFAULTS } : defaultState(siteDefaults);
  return { ...base, ...partial };
}

// The inverse of parseHash for a resolved state. Every key is written (empty when unset), so a
// link means the same whatever defaults a later version or another site chooses.
export function formatHash(state) {
  const params = new URLSearchParams();
  for (const key of STATE_KEYS) {
    const value = state[key];
    params.set(key, value === null || value === undefined ? "" : String(value));
  }
  return "#" + params.toString();
}
