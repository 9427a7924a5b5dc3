// fileNotice.js — a classic script (not a module): browsers refuse ES modules and fetch from
// file://, so a served site opened from disk would stay blank. This runs there anyway and shows
// the page's #file-notice, which says to run `ligsite serve` or build with --single-file.
if (location.protocol === "file:") {
  const notice = document.getElementById("file-notice");
  if (notice) notice.hidden = false;
}
