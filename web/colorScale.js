// colorScale.js — the signed diverging palettes, symmetric around 0, one per page theme.
// light: ColorBrewer RdBu (colour-blind safe), reversed so negative = blue, positive = red, with a
// near-white centre. dark: the same hues around a dark neutral centre, so a dark page is not lit by
// near-white cells and large |v| read as bright. Each palette has two marks that are not values:
// NaN (a target not computed) and a hidden self cell (hideSelf / share-noself), distinct greys.
// Exports always use the light palette (export.js) and say so in their caption.

export const PALETTES = {
  light: { nan: [190, 190, 190], hidden: [92, 92, 92] },
  dark: { nan: [96, 96, 96], hidden: [205, 205, 205] },
};
export const NAN_RGB = PALETTES.light.nan;
const DARK_STOPS = ["#d4e8ff", "#73b3ea", "#2f6fb0", "#1d3550", "#222222", "#4f261f", "#bb4a3c", "#f08c73", "#ffdccf"];
const LUT_SIZE = 257;

const luts = {};

function paletteColor(palette, t) {  // t in [0, 1]: 0 = most negative
  if (palette === "dark") return d3.rgb(d3.piecewise(d3.interpolateRgb, DARK_STOPS)(t));
  return d3.rgb(d3.interpolateRdBu(1 - t));
}

// One table per palette: RGB triples for css(), and the same colours as RGBA pixels (32-bit words,
// whatever the endianness) plus NaN and hidden-self at the end for fillPixels.
function paletteLut(palette) {
  if (luts[palette]) return luts[palette];
  const rgb = new Uint8ClampedArray(LUT_SIZE * 3);
  const rgba = new Uint8ClampedArray((LUT_SIZE + 2) * 4);
  for (let k = 0; k < LUT_SIZE; k++) {
    const c = paletteColor(palette, k / (LUT_SIZE - 1));
    rgb.set([c.r, c.g, c.b], 3 * k);
    rgba.set([c.r, c.g, c.b, 255], 4 * k);
  }
  rgba.set([...PALETTES[palette].nan, 255], 4 * LUT_SIZE);
  rgba.set([...PALETTES[palette].hidden, 255], 4 * (LUT_SIZE + 1));
  luts[palette] = { rgb, rgba32: new Uint32Array(rgba.buffer) };
  return luts[palette];
}

function paletteOf(name) {
  return name === "dark" ? "dark" : "light";
}

/** The CSS colour of a mark: "nan" or "hidden", in a palette. */
export function markColor(mark, palette = "light") {
  return `rgb(${PALETTES[paletteOf(palette)][mark].join(",")})`;
}

// maxAbs -> {domain, bound, fillPixels(values, from, to, pixels32, palette, hidden), css(v, palette)};
// the domain is [-maxAbs, +maxAbs].
export function divergingScale(maxAbsValue) {
  const bound = maxAbsValue > 0 && Number.isFinite(maxAbsValue) ? maxAbsValue : 1;
  const half = (LUT_SIZE - 1) / 2;
  const indexOf = (v) => {
    const t = Math.round(half + (v / bound) * half);  // the same rounding in both paths
    return t < 0 ? 0 : t > LUT_SIZE - 1 ? LUT_SIZE - 1 : t;
  };
  // Colour values[from..to) straight into the 32-bit view of an ImageData buffer: one table
  // lookup per cell. `hidden`: flat indices (in from..to) drawn as hidden self cells.
  function fillPixels(values, from, to, pixels, palette = "light", hidden = null) {
    const lut32 = paletteLut(paletteOf(palette)).rgba32;
    const nan = lut32[LUT_SIZE];
    for (let k = from; k < to; k++) {
      const v = values[k];
      pixels[k] = v !== v ? nan : lut32[indexOf(v)];
    }
    if (hidden) for (const k of hidden) if (k >= from && k < to) pixels[k] = lut32[LUT_SIZE + 1];
  }
  function css(v, palette = "light") {
    if (v !== v) return markColor("nan", palette);
    const lut = paletteLut(paletteOf(palette)).rgb;
    const k = 3 * indexOf(v);
    return `rgb(${lut[k]},${lut[k + 1]},${lut[k + 2]})`;
  }
  return { domain: [-bound, bound], bound, fillPixels, css };
}
