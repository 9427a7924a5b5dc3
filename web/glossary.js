// glossary.js — the "How to read this" panel: routes, baselines, units, orientation, marks, in one
// line each, and the site's citation when its manifest has one ("citation": text). Static text
// written once (textContent only); nothing here depends on the state.

export const GLOSSARY = [
  ["Orientation", "every matrix: row = target (what a token receives), column = source (what it gives)."],
  ["direct z→z", "IG through the whole block: how much each source row of the block's input moves each target row of its output (units: ‖Δ block output‖ of the target; a row sums to it)."],
  ["composed ATT × MLP", "Σ over heads of ATT (source → head output u, z→u) times MLP (head output → block output, u→z): the same question asked through the heads; its units are products of norms, so compare shapes with direct, not sizes."],
  ["zero", "the baseline input is all zeros."],
  ["ITB (self input token)", "every baseline row is the target's own input row: the target itself moves nowhere, so its self score is exactly 0."],
  ["ITB-zeroRatio", "ITB with the self share given back as the zero baseline gives it, the column rescaled to ITB's total."],
  ["ITB-mapRatio", "ITB with the self share taken from the head's own attention to itself (ATT only)."],
  ["ATTITBa=0", "MLP baseline: what the heads output when every input row equals the target's row (uniform attention)."],
  ["share", "a value divided by Σ|v| over the sources of its target: signed, a target's |values| sum to 1; share, self excluded: the same without the self cell."],
  ["completeness", "Σ of a target's scores / the output change they explain: 1 means nothing is missing."],
  ["[UNK]→☃", "a token the tokenizer does not know (its unknown token), followed by the characters of the text it stands for; the model itself saw only the unknown token."],
  ["marks", "blue negative, red positive, on a symmetric range; grey: not computed; a darker grey: a hidden self cell; outlined: the self cell."],
];

/** A <dl> of [term, text] pairs (text via textContent only). */
export function definitionList(doc, className, entries) {
  const list = doc.createElement("dl");
  list.className = className;
  for (const [term, text] of entries) {
    const dt = doc.createElement("dt");
    dt.textContent = term;
    const dd = doc.createElement("dd");
    dd.textContent = text;
    list.append(dt, dd);
  }
  return list;
}

/** Append the panel to `parent` (a <details>, closed), with the citation when there is one. */
export function createGlossary(parent, manifest) {
  const doc = parent.ownerDocument;
  const details = doc.createElement("details");
  details.id = "how-to-read";
  details.className = "panel";
  const summary = doc.createElement("summary");
  summary.textContent = "How to read this";
  details.append(summary, definitionList(doc, "glossary", GLOSSARY));
  if (manifest.citation) {
    const heading = doc.createElement("h3");
    heading.textContent = "Cite";
    const cite = doc.createElement("pre");
    cite.className = "citation";
    cite.id = "citation";
    cite.textContent = String(manifest.citation);
    details.append(heading, cite);
  }
  parent.append(details);
  return details;
}
