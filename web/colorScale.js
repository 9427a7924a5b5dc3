// colorScale.js — the signed diverging palette, symmetric around 0.
// ColorBrewer RdBu (colour-blind safe), reversed so negative = blue, positive = red; NaN grey.

export const NAN_RGB = [190, 190, 190];
const LUT_SIZE = 257;

let sharedLut = null;

function paletteLut() {
  if (sharedLut) return sharedLut;
  sharedLut = new Uint8ClampedArray(LUT_SIZE * 3);
  for (let k = 0; k < LUT_SIZE; k++) {
    const rgb = d3.rgb(d3.interpolateRdBu(1 - k / (LUT_SIZE - 1)));
    sharedLut.set([rgb.r, rgb.g, rgb.b], 3 * k);
  }
  return sharedLut;
}

// maxAbs -> {domain, rgbInto(v, out, at), css(v)}; the domain is [-maxAbs, +maxAbs].
export function divergingScale(maxAbsValue) {
  const bound = maxAbsValue > 0 && Number.isFinite(maxAbsValue) ? maxAbsValue : 1;
  const lut = paletteLut();
  const half = (LUT_SIZE - 1) / 2;
  function indexOf(v) {
    const t = Math.round(half + (v / bound) * half);
    return 3 * Math.max(0, Math.min(LUT_SIZE - 1, t));
  }
  function rgbInto(v, out, at) {
    if (v !== v) {
      out[at] = NAN_RGB[0]; out[at + 1] = NAN_RGB[1]; out[at + 2] = NAN_RGB[2];
    } else {
      const k = indexOf(v);
      out[at] = lut[k]; out[at + 1] = lut[k + 1]; out[at + 2] = lut[k + 2];
    }
    out[at + 3] = 255;
  }
  function css(v) {
    if (v !== v) return `rgb(${NAN_RGB.join(",")})`;
    const k = indexOf(v);
    return `rgb(${lut[k]},${lut[k + 1]},${lut[k + 2]})`;
  }
  return { domain: [-bound, bound], bound, rgbInto, css };
}
