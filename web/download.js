// download.js — hand a string or data URL to the browser as a file (the export buttons).

/** Save `content` (text, or a data: URL when isDataUrl) under `filename`. */
export function downloadFile(filename, content, mime, isDataUrl = false) {
  const url = isDataUrl ? content : URL.createObjectURL(new Blob([content], { type: mime }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  if (!isDataUrl) setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A file name from the state: ligsite-<sample>-<route>-L<layer>-<norm>-<axis>.<ext>. */
export function exportFileName(state, ext) {
  const layer = state.layer === "all" ? "all" : `L${state.layer}`;
  const safe = (s) => String(s).replace(/[^A-Za-z0-9_.-]+/g, "_");
  return `ligsite-${safe(state.sample)}-${state.route}-${layer}-${state.norm}-${state.axis}.${ext}`;
}

/** A file name for one plot of the analysis page: ligsite-analysis-<metric>-<layer baseline>-<axis>.<ext>. */
export function analysisFileName(plot, ext) {
  const safe = (s) => String(s).replace(/[^A-Za-z0-9_.-]+/g, "_");
  return `ligsite-analysis-${safe(plot.metric)}-${safe(plot.layerBaseline)}-${safe(plot.axis)}.${ext}`;
}
