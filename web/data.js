// data.js — load the manifest and per-sample payloads, decode quantized maps.
// decodeMap keeps the payload order: one Float32Array(T*T) per layer, [source i][target j] at
// index i*T + j (what web/normalize.js and web/words.js expect); views transpose for display.

const NAN_CODE = -32768;
const CANONICAL_NAN_BITS = 0x7fc00000;

function inlineJson(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

export function readManifest() {
  const manifest = inlineJson("ligsite-manifest");
  if (!manifest) throw new Error("ligsite: the page has no inline manifest (#ligsite-manifest)");
  return manifest;
}

// Single-file pages inline every payload; a served site fetches data/<id>.json on demand.
export async function loadPayload(entry, base) {
  const inline = inlineJson(`ligsite-payload-${entry.id}`);
  if (inline) return inline;
  const response = await fetch(base + entry.file);
  if (!response.ok) throw new Error(`ligsite: cannot load ${entry.file}: HTTP ${response.status}`);
  return response.json();
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let k = 0; k < binary.length; k++) bytes[k] = binary.charCodeAt(k);
  return bytes;
}

// {dtype: "int16", shape: [L, T, T], scale: [L], data} -> {layers: Float32Array[L], size: T}
export function decodeMap(entry) {
  if (entry.dtype !== "int16") throw new Error(`ligsite: unsupported dtype ${entry.dtype}; expected int16`);
  const [nLayers, nSources, nTargets] = entry.shape;
  const view = new DataView(base64Bytes(entry.data).buffer);
  const layers = [];
  for (let l = 0; l < nLayers; l++) {
    const scale = entry.scale[l];
    const out = new Float32Array(nSources * nTargets);
    const offset = l * nSources * nTargets;
    for (let k = 0; k < out.length; k++) {
      const q = view.getInt16(2 * (offset + k), true);
      out[k] = q === NAN_CODE ? NaN : q * scale;
    }
    layers.push(out);
  }
  return { layers, size: nTargets };
}

export function maxAbs(arrays) {
  let best = 0;
  for (const values of arrays) {
    for (let k = 0; k < values.length; k++) {
      const a = Math.abs(values[k]);
      if (a > best) best = a;
    }
  }
  return best;
}

// [source][target] -> [target][source]: rows become targets, as every view draws them.
export function transposeSquare(values, size) {
  const out = new Float32Array(size * size);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) out[j * size + i] = values[i * size + j];
  }
  return out;
}

// FNV-1a over the float32 bit patterns of the drawn values (NaN canonical), in drawing order,
// so a test can recompute it from the data file and know exactly what is on screen.
export function checksum(arrays) {
  let hash = 0x811c9dc5;
  for (const values of arrays) {
    const floats = values instanceof Float32Array ? values : Float32Array.from(values);
    const bits = new Uint32Array(floats.buffer, floats.byteOffset, floats.length);
    for (let k = 0; k < bits.length; k++) {
      const word = floats[k] !== floats[k] ? CANONICAL_NAN_BITS : bits[k];
      hash = Math.imul(hash ^ word, 16777619) >>> 0;
    }
  }
  return hash.toString(16).padStart(8, "0");
}
