// main.js — the app: owns the state, loads data on demand, redraws, syncs the URL hash and
// exposes window.ligsite (the automation interface in docs/architecture.md).

import { defaultState, stateFromHash, formatHash } from "./state.js";
import { choicesOf, resolveState, mapKeyOf } from "./options.js";
import { readManifest, loadPayload } from "./data.js";
import { viewProps, decodedMap } from "./view.js";
import { createControls } from "./controls.js";
import { createOverview } from "./overview.js";
import { createHeatmap } from "./heatmap.js";
import { createLegend } from "./legend.js";
import { createFocus } from "./focus.js";
import { createTooltip } from "./tooltip.js";
import { hoverLines } from "./hover.js";
import { createPaperTools, paperSVG, paperPNG, paperCSV, paperRange } from "./paper.js";
import { figureSpecOf } from "./figureSpec.js";
import { createGlossary } from "./glossary.js";
import { targetOnAxis } from "./words.js";
import { themeApply, embedApply } from "./theme.js";
import { compareProps } from "./compare.js";
import { createCompareView } from "./compareView.js";
import { loadHeads, headProps } from "./heads.js";
import { createHeadView } from "./headView.js";
import { sensitivityTable, renderSensitivity } from "./sensitivity.js";
import { flowProps, createFlowView } from "./flowView.js";

// Write text only when it changed: unchanged nodes then cost no style or layout work.
function setText(selector, text) {
  const node = document.querySelector(selector);
  if (node && node.textContent !== text) node.textContent = text;
}

// The sample's label and source (licence / provenance note) from the payload, in words.
function sampleMeta(payload) {
  const parts = [];
  if (payload.label !== null && payload.label !== undefined && payload.label !== "") parts.push(`label: ${payload.label}`);
  if (payload.source) parts.push(`source: ${payload.source}`);
  return parts.join(" · ");
}

// Decode a sample's other maps while the page is idle, one map per idle callback (a few ms
// each), so a later route or baseline switch only draws.
function warmMaps(sample) {
  if (sample.warming) return;
  sample.warming = true;
  const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 50));
  const pending = Object.keys(sample.payload.maps);
  const step = () => {
    const key = pending.shift();
    if (key === undefined) return;
    if (!sample.decoded.has(key)) decodedMap(sample, key);
    idle(step);
  };
  idle(step);
}

// Copy the page's URL (the whole state is in its hash); say so, or show the link to copy by hand.
function copyLink(status) {
  const url = location.href;
  const done = (text) => { status.textContent = text; };
  if (!navigator.clipboard) return done(`Link: ${url}`);
  navigator.clipboard.writeText(url).then(() => done("Link copied."), () => done(`Link: ${url}`));
}

// What a requested state asked for that the data lack, in one sentence ("" when nothing).
function repairNotice(asked, shown, choices) {
  const notes = [];
  if (typeof asked.sample === "string" && asked.sample && asked.sample !== shown.sample) {
    notes.push(`Sample “${asked.sample}” is not in this site; showing “${shown.sample}” instead.`);
  }
  if (Number.isInteger(asked.layer) && asked.layer !== shown.layer) {
    notes.push(`Layer ${asked.layer} is not in the data (layers ${choices.layers.join(", ")}); showing layer ${shown.layer}.`);
  }
  if (Number.isInteger(asked.target) && shown.target === null) {
    notes.push(`Target ${asked.target} is outside this sample's ${asked.axis === "word" ? "words" : "tokens"}; no target selected.`);
  }
  return notes.join(" ");
}

// Bring the focus panel into view after a target is selected, when it lies off-screen (issue 13).
function revealFocus(panel) {
  requestAnimationFrame(() => {
    if (!panel || panel.hidden) return;
    const box = panel.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight - 80) panel.scrollIntoView({ block: "start" });
  });
}

function startViewer() {
  const body = document.body;
  const base = body.dataset.base || "";
  const manifest = readManifest();
  const siteDefaults = manifest.defaults || {};
  const samples = new Map();
  const viz = document.getElementById("viz");
  const status = document.getElementById("status");
  let state = null;
  let props = null;
  let queue = Promise.resolve();

  // A deep link asked for something the data do not have: say what is shown instead (issue 13).
  function showNotice(text) {
    if (text) {
      status.textContent = text;
      status.dataset.notice = "1";
    } else if (status.dataset.notice) {
      status.textContent = "";
      delete status.dataset.notice;
    }
  }

  async function sampleData(id) {
    if (!samples.has(id)) {
      const entry = manifest.samples.find((s) => s.id === id);
      const payload = await loadPayload(entry, base);
      performance.mark(`ligsite:data:${id}`);
      samples.set(id, { payload, choices: choicesOf(payload), decoded: new Map() });
    }
    return samples.get(id);
  }

  const tooltip = createTooltip(viz);
  const hover = (kind) => ({
    onHover: (hit, event) => (hit ? tooltip.show(hoverLines(kind, hit, state, props), event) : tooltip.hide()),
    onLeave: () => tooltip.hide(),
    onFocusCell: (hit, event) => {  // keyboard focus: same tooltip as hover, and the live line
      tooltip.show(hoverLines(kind, hit, state, props), event);
      if (kind === "matrix") paper.announceCell(hit);
    },
    onClick: (hit, event) => {
      // lock the tooltip on the state the click leads to: any later change clears it (issue 13)
      update(kind === "focus" ? { layer: props.focus.layers[hit.row] }
        : kind === "overview" ? { layer: hit.layer, target: hit.row } : { target: hit.row })
        .then(() => tooltip.show(hoverLines(kind, hit, state, props), event, formatHash(state)));
    },
  });
  const controls = createControls(document.getElementById("controls-holder"), {
    onChange: (partial) => update(partial), onCopy: () => copyLink(status),
  });
  const overview = createOverview(document.getElementById("overview-holder"),
    { ...hover("overview"), onOpen: (layer) => update({ layer }) });
  const matrix = createHeatmap(document.getElementById("matrix-holder"),
    { canvasId: "matrix", label: "attribution matrix: rows are targets, columns are sources", clickRows: true }, hover("matrix"));
  const legend = createLegend(document.getElementById("legend-holder"));
  const focus = createFocus(document.getElementById("focus-holder"), { ...hover("focus"), onToggle: () => update({}, "none") });
  const embedLink = document.createElement("a");  // embed mode: the way out to the full viewer
  embedLink.id = "embed-open";
  embedLink.className = "embed-open";
  embedLink.target = "_blank";
  embedLink.rel = "noopener";
  embedLink.textContent = "open in the full viewer ↗";
  document.getElementById("matrix-section").prepend(embedLink);
  createGlossary(document.getElementById("viewer"), manifest);
  const flowView = createFlowView(document.getElementById("focus"), () => update({}, "none"));
  const compareHolder = document.createElement("div");
  compareHolder.id = "compare-holder";
  viz.insertBefore(compareHolder, document.getElementById("focus-holder"));
  const compare = createCompareView(compareHolder, {
    onHover: (lines, event) => tooltip.show(lines, event), onLeave: () => tooltip.hide(),
  });
  const headsHolder = document.createElement("div");
  headsHolder.id = "heads-holder";
  viz.insertBefore(headsHolder, document.getElementById("focus-holder"));
  const headView = createHeadView(headsHolder, { onChange: (partial) => update(partial) });

  // The per-head file of a sample and ATT baseline, fetched the first time the head view needs it.
  async function headData(sample, att) {
    if (!sample.heads) sample.heads = new Map();
    if (!sample.heads.has(att)) {
      const entry = manifest.samples.find((s) => s.id === sample.payload.id);
      sample.heads.set(att, await loadHeads(entry, base, att));
    }
    return sample.heads.get(att);
  }
  function headsOf(next, sample) {
    const entry = manifest.samples.find((s) => s.id === next.sample);
    const available = Boolean(entry && entry.heads && next.attBaseline in entry.heads)
      || Boolean(document.getElementById(`ligsite-heads-${next.sample}-${next.attBaseline}`));
    const loaded = sample.heads && sample.heads.get(next.attBaseline);
    if (next.head === null || !loaded) return { available, open: null };
    return { available, attBaseline: next.attBaseline, ...headProps(next, sample.payload, loaded) };
  }
  const paper = createPaperTools({  // issue 4: normalization, axis, theme, exports, panels
    form: d3.select("#controls"), holder: document.getElementById("controls-holder"), before: viz,
    extras: document.getElementById("viewer"), onChange: (partial) => update(partial),
    current: () => [state, samples.get(state.sample)],
  });

  // The viz width is read once and then kept by a ResizeObserver: reading clientWidth inside
  // render would force a layout of the freshly changed page on every switch.
  let vizWidth = viz.clientWidth || 900;
  let drawnWidth = null;
  new ResizeObserver(() => {
    const width = viz.clientWidth;
    if (!width || width === vizWidth) return;
    vizWidth = width;
    if (state && drawnWidth !== null && drawnWidth !== width) update({}, "none");  // redraw to fit
  }).observe(viz);

  // The heatmaps' palette follows the page's theme: pinned by the state, else the system's.
  const darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const paletteOf = (theme) => (theme === "dark" || (theme === "auto" && darkQuery && darkQuery.matches) ? "dark" : "light");
  if (darkQuery) darkQuery.addEventListener("change", () => state && state.theme === "auto" && update({}, "none"));

  function render(next, sample) {
    embedApply(next.embed, document.documentElement);
    // window.innerHeight forces a layout of the changed page: read it only where it is used
    props = viewProps(next, sample, vizWidth, paletteOf(next.theme), next.embed === 1 ? window.innerHeight : null);
    drawnWidth = vizWidth;
    controls.update(next, manifest, sample.choices);
    setText("#sentence", sample.payload.text);
    setText("#sample-meta", sampleMeta(sample.payload));
    setText("#matrix-title", props.title);
    d3.select("#matrix-section").attr("hidden", props.matrix ? null : "");
    overview.render(props.overview);
    if (props.matrix) matrix.render(props.matrix);
    legend.render(props.legend);
    focus.render(props.focus);
    paper.render(next, sample);
    themeApply(next.theme, document.documentElement);
    embedLink.href = `${location.pathname}${formatHash({ ...next, embed: 0 })}`;
  }

  // The views around the main one (compare, heads, flow, sensitivity) draw in a task of their own
  // after the main redraw, so no switch becomes one long task; setState resolves after both.
  function renderSecondary(next, sample) {
    const palette = props.overview.palette;
    compare.render(compareProps(next, sample), vizWidth, palette);
    headView.render(headsOf(next, sample), palette);
    flowView.render(flowView.isOpen() ? flowProps(next, sample) : null, palette);
    const strip = document.getElementById("sensitivity-holder");
    const open = strip.parentNode.open;  // a closed <details>: computed when the reader opens it
    const stripKey = JSON.stringify([next.sample, next.layer, next.target, next.norm, next.hideSelf, next.axis,
      next.wordAgg, next.rankSelf, mapKeyOf(next), palette, open]);
    if (strip.dataset.key !== stripKey) {
      renderSensitivity(strip, open ? sensitivityTable(next, sample) : null, palette);
      strip.dataset.key = stripKey;
    }
  }

  async function apply(partial, history) {
    let next = { ...(state || defaultState(siteDefaults)), ...partial };
    const asked = { ...partial };
    if (!manifest.samples.some((s) => s.id === next.sample)) next.sample = manifest.samples[0].id;
    if (state && next.sample !== state.sample && !("target" in partial)) next.target = null;
    const sample = await sampleData(next.sample);
    if (state && next.sample === state.sample && !("target" in partial)) {
      next.target = targetOnAxis(next.target, state.axis, next.axis, sample.payload);
    }
    next = resolveState(next, sample.choices);
    if (next.head !== null && headsOf(next, sample).available) await headData(sample, next.attBaseline);
    if (!sample.decoded.has(mapKeyOf(next))) {  // decode in its own task: no long task from decode + draw
      decodedMap(sample, mapKeyOf(next));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const previous = state;
    render(next, sample);
    state = next;
    await new Promise((resolve) => setTimeout(resolve, 0));
    renderSecondary(next, sample);
    tooltip.keepIf(formatHash(state));
    showNotice(repairNotice(asked, next, sample.choices));
    if (history === "push" && next.target !== null && (!previous || previous.target !== next.target)) {
      revealFocus(document.getElementById("focus"));
    }
    warmMaps(sample);
    const hash = formatHash(state);
    if (history !== "none" && hash !== location.hash) {
      window.history[history === "push" ? "pushState" : "replaceState"](null, "", hash);
    }
    appliedHash = location.hash;
  }

  function update(partial, history = "push") {
    queue = queue.then(() => apply(partial, history)).catch((error) => {
      status.textContent = String(error.message || error);
      console.error(error);
    });
    return queue;
  }

  // Back/forward or an edited hash: the hash is the whole state (absent keys take their defaults).
  // popstate and hashchange both fire for one step back, so a hash already applied is skipped.
  let appliedHash = null;
  const fromHash = () => {
    if (location.hash === appliedHash || location.hash === formatHash(state)) return;
    appliedHash = location.hash;
    update(stateFromHash(location.hash, siteDefaults), "none");
  };
  window.addEventListener("popstate", fromHash);
  window.addEventListener("hashchange", fromHash);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    tooltip.hide(true);
    if (state && state.target !== null) update({ target: null });
  });

  const initial = { ...stateFromHash(location.hash, siteDefaults) };
  if (!initial.sample) initial.sample = body.dataset.sample || null;
  const ready = update(initial, "replace").then(() => performance.mark("ligsite:render"));
  window.ligsite = {
    ready,
    getState: () => ({ ...state }),
    setState: (partial) => update(partial),
    exportSVG: (options = {}) => paperSVG(state, samples.get(state.sample), options),
    exportPNG: (scale = 2) => paperPNG(state, samples.get(state.sample), scale),
    exportCSV: () => paperCSV(state, samples.get(state.sample)),
    exportRange: () => paperRange(state, samples.get(state.sample)),
    // the figures.toml entry of the current view; options default to the "Figure text" fields
    figureSpec: (options) => figureSpecOf(state, options === undefined ? paper.figureText() : options),
  };
}

startViewer();
