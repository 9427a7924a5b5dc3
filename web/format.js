// format.js — how numbers and tokens read on screen (one place, so tooltips and lists agree).

const MINUS = "\u2212";

// Exact enough to compare with the data file: 6 significant digits, explicit sign.
export function formatValue(v) {
  if (v !== v) return "not computed";
  if (v === 0) return "0";
  const text = Math.abs(v).toPrecision(6);
  return (v < 0 ? MINUS : "+") + text;
}

export function formatShare(share) {
  if (share !== share) return "–";
  return (share < 0 ? MINUS : "+") + (Math.abs(share) * 100).toFixed(1) + "%";
}

export function quoteToken(token) {
  return `\u201c${token}\u201d`;
}
