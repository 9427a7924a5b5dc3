// colorScale.js — the signed diverging palette, symmetric around 0.
// ColorBrewer RdBu (colour-blind safe), reversed so negative = blue, positive = red; NaN grey.

export const NAN_RGB = [190, 190, 190];
const LUT_SIZE = 257;

let sharedLut = null;
let sharedLut32 = null;

function paletteLut() {
  if (sharedLut) return sharedLut;
  sharedLut = new Uint8ClampedArray(LUT_SIZE * 3);
  const rgba = new Uint8ClampedArray((LUT_SIZE + 1) * 4);  // the last entry is NaN's grey
  for (let k = 0; k <= LUT_SIZE; k++) {
    const rgb = k < LUT_SIZE ? d3.rgb(d3.interpolateRdBu(1 - k / (LUT_SIZE - 1))) : { r: NAN_RGB[0], g: NAN_RGB[1], b: NAN_RGB[2] };
    if (k < LUT_SIZE) sharedLut.set([rgb.r, rgb.g, rgb.b], 3 * k);
    rgba.set([rgb.r, rgb.g, rgb.b, 255], 4 * k);
  }
  sharedLut32 = new Uint32Array(rgba.buffer);  // same bytes as RGBA pixels, whatever the endianness
  return sharedLut;
}

// maxAbs -> {domain, bound, fillPixels(values, from, to, pixels32), css(v)}; the domain is [-maxAbs, +maxAbs].
export function divergingScale(maxAbsValue) {
  const bound = maxAbsValue > 0 && Number.isFinite(maxAbsValue) ? maxAbsValue : 1;
  const lut = paletteLut();
  const half = (LUT_SIZE - 1) / 2;
  function indexOf(v) {
    const t = Math.round(half + (v / bound) * half);
    return 3 * Math.max(0, Math.min(LUT_SIZE - 1, t));
  }
  // Colour values[from..to) straight into the 32-bit view of an ImageData buffer: one table
  // lookup per cell, no per-channel writes (the bitmaps of 12 layers x 69² cells on a switch).
  function fillPixels(values, from, to, pixels) {
    const lut32 = sharedLut32;
    const nan = lut32[LUT_SIZE];
    for (let k = from; k < to; k++) {
      const v = values[k];
      if (v !== v) { pixels[k] = nan; continue; }
      const t = Math.round(half + (v / bound) * half);  // the same rounding as css(v)
      pixels[k] = lut32[t < 0 ? 0 : t > LUT_SIZE - 1 ? LUT_SIZE - 1 : t];
    }
  }
  function css(v) {
    if (v !== v) return `rgb(${NAN_RGB.join(",")})`;
    const k = indexOf(v);
    return `rgb(${lut[k]},${lut[k + 1]},${lut[k + 2]})`;
  }
  return { domain: [-bound, bound], bound, fillPixels, css };
}
