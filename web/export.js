// Exports of the current view for papers: SVG (vector cells, tokens kept as <text>, a caption
// line), PNG (that SVG drawn at 2x on an offscreen canvas) and CSV (the current matrix).
// Pure functions of (state, view model): `ligsite figures` reuses them through window.ligsite,
// and the same state always gives byte-identical output (no dates, fixed number formatting).
// Views follow viewModel.js: values in [source][target] order, drawn rows = targets.

const EX_THEMES = {
  light: { bg: "#ffffff", fg: "#1a1a1a", muted: "#555555", nan: "#bdbdbd", self: "#1a1a1a", hidden: "#5c5c5c" },
  dark: { bg: "#121212", fg: "#ececec", muted: "#b0b0b0", nan: "#5a5a5a", self: "#ececec", hidden: "#cdcdcd" },
};
// ColorBrewer RdBu (11 classes), negative = blue, positive = red; colour-blind safe.
const EX_STOPS = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
  "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"];
const EX_FONT = "Helvetica, Arial, sans-serif";

/** Round to 2 decimals without trailing zeros: stable coordinates in the SVG text. */
function exNum(x) {
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

/** A value as 3 significant digits, the way the legend and tooltips print it. */
export function exportFormat(v) {
  if (!Number.isFinite(v)) return "NaN";
  const r = Number(v.toPrecision(3));
  return Object.is(r, -0) ? "0" : String(r);
}

/** Escape text for XML and drop characters XML 1.0 forbids (control chars, lone surrogates). */
export function exportEscapeXml(text) {
  return String(text)
    .replace(/[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "")
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** The default diverging colour of v on [-domain, domain]; NaN gets the theme's neutral grey. */
export function exportColor(v, domain, nan = EX_THEMES.light.nan) {
  if (!Number.isFinite(v)) return nan;
  const t = Math.max(0, Math.min(1, (v / domain + 1) / 2)) * (EX_STOPS.length - 1);
  const k = Math.min(EX_STOPS.length - 2, Math.floor(t));
  const f = t - k;
  const a = EX_STOPS[k];
  const b = EX_STOPS[k + 1];
  let hex = "#";
  for (let c = 1; c < 7; c += 2) {
    const mix = Math.round(parseInt(a.slice(c, c + 2), 16) * (1 - f) + parseInt(b.slice(c, c + 2), 16) * f);
    hex += mix.toString(16).padStart(2, "0");
  }
  return hex;
}

/** Sizes of the figure: cells shrink for many tokens and for the all-layer grid. */
function exLayout(view) {
  const many = view.panels.length > 1;
  const cell = many ? Math.max(6, Math.min(10, Math.floor(240 / view.n)))
    : Math.max(8, Math.min(16, Math.floor(560 / view.n)));
  const font = Math.max(6, Math.min(11, cell - 1));
  const longest = view.labels.reduce((m, t) => Math.max(m, String(t).length), 1);
  const label = Math.ceil(longest * font * 0.62) + 6;
  const grid = cell * view.n;
  const panelW = label + grid + 12;
  const panelH = 16 + label + grid + 12;
  const cols = many ? Math.min(4, view.panels.length) : 1;
  return { cell, font, label, grid, panelW, panelH, cols };
}

/** Estimated width in px of `text` at `fontSize` in the export's sans-serif (no DOM to measure:
 * exports are pure functions; Helvetica's average advance is about 0.55 em). */
function exTextWidth(text, fontSize) {
  return Math.ceil(String(text).length * fontSize * 0.55);
}

/** `text` split into lines of at most `maxChars` characters: at `separator` first, then at spaces
 * where one piece alone is too long (a word longer than a line stays whole). */
export function exportWrap(text, maxChars, separator = " · ") {
  const pieces = [];
  const parts = String(text).split(separator);
  parts.forEach((part, k) => {
    const piece = part + (k < parts.length - 1 ? separator : "");
    if (piece.length <= maxChars) { pieces.push(piece); return; }
    const words = piece.split(" ");
    words.forEach((word, j) => pieces.push(word + (j < words.length - 1 ? " " : "")));
  });
  const lines = [];
  let line = "";
  for (const piece of pieces) {
    if (line && (line + piece).trimEnd().length > maxChars) { lines.push(line); line = ""; }
    line += piece;  // a line keeps its trailing separator, so the lines join back into the text
  }
  if (line) lines.push(line);
  return lines;
}

/** The <text> elements of one axis: row labels (targets) at the left, sources rotated on top. */
function exAxisText(view, lay, x0, y0, colors) {
  const out = [];
  const fs = lay.font;
  view.labels.forEach((token, k) => {
    const t = exportEscapeXml(token);
    const mid = k * lay.cell + lay.cell / 2;
    out.push(`<text class="row" x="${exNum(x0 - 4)}" y="${exNum(y0 + mid + fs * 0.35)}" text-anchor="end">${t}</text>`);
    const cx = exNum(x0 + mid + fs * 0.35);
    const cy = exNum(y0 - 4);
    out.push(`<text class="col" x="${cx}" y="${cy}" transform="rotate(-90 ${cx} ${cy})">${t}</text>`);
  });
  return `<g font-size="${fs}" fill="${colors.fg}">${out.join("")}</g>`;
}

/** One panel: title, axis tokens, one <rect> per cell, self cells and the target row outlined. */
function exPanel(view, panel, lay, x, y, opts) {
  const { n } = view;
  const { colors, target } = opts;
  const domain = panel.domain ?? view.domain;  // scale=layer: each panel has its own range
  const color = panel.color || opts.color;
  const gx = x + lay.label;
  const gy = y + 16 + lay.label;
  const cells = [];
  for (let row = 0; row < n; row++) {
    for (let col = 0; col < n; col++) {
      const hidden = view.hiddenSelf && row === col;  // a hidden self cell has its own mark, not NaN's grey
      const fill = hidden ? colors.hidden : color(panel.values[col * n + row], domain, colors.nan);
      cells.push(`<rect ${hidden ? 'class="self-hidden" ' : ""}x="${exNum(gx + col * lay.cell)}" y="${exNum(gy + row * lay.cell)}" width="${lay.cell}" height="${lay.cell}" fill="${fill}"/>`);
    }
  }
  const selfs = [];
  for (let k = 0; k < n; k++) {
    selfs.push(`<rect x="${exNum(gx + k * lay.cell + 0.5)}" y="${exNum(gy + k * lay.cell + 0.5)}" width="${lay.cell - 1}" height="${lay.cell - 1}"/>`);
  }
  const mark = Number.isInteger(target) && target >= 0 && target < n
    ? `<rect class="target" x="${exNum(gx)}" y="${exNum(gy + target * lay.cell)}" width="${lay.grid}" height="${lay.cell}" fill="none" stroke="${colors.fg}" stroke-width="1.5"/>`
    : "";
  return `<g class="panel" data-layer="${panel.layer}">`
    + `<text class="title" x="${exNum(gx)}" y="${exNum(y + 12)}" font-size="12" fill="${colors.fg}">layer ${panel.layer}${view.perPanel ? ` (±${exportFormat(domain)})` : ""}</text>`
    + exAxisText(view, lay, gx, gy, colors)
    + `<g class="cells">${cells.join("")}</g>`
    + `<g class="self" fill="none" stroke="${colors.self}" stroke-width="1">${selfs.join("")}</g>${mark}</g>`;
}

/** The legend: gradient bar, signed range and the normalization sentence — beside the bar when it
 * fits in `room` px, else wrapped under it (so a narrow figure is not widened by its legend). */
function exLegendLines(view, room) {
  if (172 + exTextWidth(view.legend, 11) <= room) return null;
  return exportWrap(view.legend, Math.max(12, Math.floor(room / (11 * 0.55))), "; ");
}

function exLegend(view, x, y, colors, color, lines) {
  const stops = [];
  for (let k = 0; k <= 10; k++) {
    stops.push(`<stop offset="${k * 10}%" stop-color="${color((k / 5 - 1) * view.domain, view.domain, colors.nan)}"/>`);
  }
  const m = view.perPanel ? "max" : exportFormat(view.domain);  // per-panel ranges: in each title
  const text = lines
    ? `<text class="legend-text">${lines.map((line, k) => `<tspan x="${x}" y="${y + 38 + k * 14}">${exportEscapeXml(line)}</tspan>`).join("")}</text>`
    : `<text class="legend-text" x="${x + 172}" y="${y + 9}">${exportEscapeXml(view.legend)}</text>`;
  return `<g class="legend" font-size="11" fill="${colors.fg}">`
    + `<defs><linearGradient id="ligsite-legend">${stops.join("")}</linearGradient></defs>`
    + `<rect x="${x}" y="${y}" width="160" height="10" fill="url(#ligsite-legend)"/>`
    + `<text x="${x}" y="${y + 22}">−${m}</text>`
    + `<text x="${x + 80}" y="${y + 22}" text-anchor="middle">0</text>`
    + `<text x="${x + 160}" y="${y + 22}" text-anchor="end">+${m}</text>`
    + `${text}</g>`;
}

// The narrowest export: the legend bar with its range labels.
const EX_MIN_CONTENT = 200;

/** The current view as a standalone SVG string (light by default; options.theme = "dark").
 * Options named like the figures spec: `caption` replaces the generated caption (an empty string
 * or false hides it), `title` adds a bold line above it, `font_size` sets the caption and title
 * size (px). The width is the panels' own (no blank band beside them): caption and legend wrap. */
export function exportSVG(state, view, options = {}) {
  const colors = EX_THEMES[options.theme === "dark" ? "dark" : "light"];
  const color = view.color || exportColor;
  const lay = exLayout(view);
  const rows = Math.ceil(view.panels.length / lay.cols);
  const content = Math.max(lay.cols * lay.panelW, EX_MIN_CONTENT);
  const width = content + 32;
  const fs = Number(options.font_size) > 0 ? Number(options.font_size) : 12;
  const captionText = options.caption === false ? "" : typeof options.caption === "string" ? options.caption : view.caption;
  const lines = captionText ? exportWrap(captionText, Math.max(12, Math.floor(content / (fs * 0.55)))) : [];
  const title = typeof options.title === "string" && options.title ? options.title : "";
  const titleH = title ? Math.round(fs * 1.4) + 4 : 0;
  const lineH = Math.round(fs * 1.25);
  const top = 16 + titleH + lines.length * lineH + 8;
  const legendLines = exLegendLines(view, content);
  const legendH = 40 + (legendLines ? legendLines.length * 14 : 0);
  const height = top + legendH + rows * lay.panelH + 8;
  const target = state.target === null || state.target === undefined || state.target === ""
    ? null : Number(state.target);
  const panels = view.panels.map((panel, k) => exPanel(view, panel, lay,
    16 + (k % lay.cols) * lay.panelW, top + legendH + Math.floor(k / lay.cols) * lay.panelH,
    { colors, color, target }));
  const caption = lines.map((line, k) => `<tspan x="16" y="${16 + titleH + fs + k * lineH}">${exportEscapeXml(line)}</tspan>`);
  const titleText = title ? `<text class="figure-title" x="16" y="${16 + Math.round(fs * 1.2)}" font-size="${Math.round(fs * 1.3)}" font-weight="bold" fill="${colors.fg}">${exportEscapeXml(title)}</text>` : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${EX_FONT}">`
    + `<rect class="background" width="${width}" height="${height}" fill="${colors.bg}"/>` + titleText
    + (lines.length ? `<text class="caption" font-size="${fs}" fill="${colors.fg}">${caption.join("")}</text>` : "")
    + exLegend(view, 16, top, colors, color, legendLines)
    + panels.join("") + "</svg>\n";
}

/** One CSV field, quoted when it holds a comma, quote, newline or edge space (RFC 4180). */
function exCsvField(text) {
  const s = String(text);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A CSV number: 6 significant digits, empty for NaN (not computed or hidden). */
function exCsvNumber(v) {
  return Number.isFinite(v) ? String(Number(v.toPrecision(6))).replace(/^-0$/, "0") : "";
}

/** A header name that stays unique when tokens repeat ("the" twice): "<index>:<token>". */
export function exportCsvName(k, token) {
  return `${k}:${token}`;
}

/** The matrix ([source][target], n = tokens.length) as CSV: header of sources, one row per target,
 * every name "<index>:<token>" so repeated tokens stay distinct columns. */
export function exportCSV(matrix, tokens, corner = "target \\ source") {
  const n = tokens.length;
  if (matrix.length !== n * n) throw new Error(`matrix has ${matrix.length} values for ${n} tokens`);
  const names = tokens.map((t, k) => exportCsvName(k, t));
  const lines = [[corner, ...names].map(exCsvField).join(",")];
  for (let row = 0; row < n; row++) {
    const cells = [exCsvField(names[row])];
    for (let col = 0; col < n; col++) cells.push(exCsvNumber(matrix[col * n + row]));
    lines.push(cells.join(","));
  }
  return lines.join("\n") + "\n";
}

/** Every layer in long format, one line per (layer, target, source):
 * layer,target_index,target,source_index,source,value. matrices: [source][target] per layer. */
export function exportCSVLong(matrices, tokens, layers) {
  const n = tokens.length;
  const lines = ["layer,target_index,target,source_index,source,value"];
  const quoted = tokens.map(exCsvField);
  matrices.forEach((matrix, pos) => {
    for (let row = 0; row < n; row++) {
      const head = `${layers[pos]},${row},${quoted[row]},`;
      for (let col = 0; col < n; col++) lines.push(`${head}${col},${quoted[col]},${exCsvNumber(matrix[col * n + row])}`);
    }
  });
  return lines.join("\n") + "\n";
}

/** The SVG drawn at `scale` on an offscreen canvas, as a PNG data URL. */
export function exportPNG(svg, scale = 2) {
  const match = /^<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!match) return Promise.reject(new Error("exportPNG needs an SVG with width and height"));
  const [width, height] = [Number(match[1]), Number(match[2])];
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      resolve(canvas.toDataURL("image/png"));
    };
    img.onerror = () => reject(new Error("the exported SVG could not be drawn as an image"));
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
  });
}

/** The export palette and font for figures drawn by other pages (the analysis page's plots): the
 * viewer's own colours and font family, so both kinds of figure sit together in one paper. */
export function exportTheme(theme = "light") {
  return { ...EX_THEMES[theme === "dark" ? "dark" : "light"], font: EX_FONT };
}
