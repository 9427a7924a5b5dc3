// tokenText.js — how a tokenizer's raw token strings read on screen and in exports.
// Display only: the payload keeps the raw strings (tests and the CSV's data come from them).
// - Byte-level BPE (GPT-2, RoBERTa, …) stores bytes as printable stand-ins: "Ġ" (U+0120) is a
//   space, "Ċ" (U+010A) a newline, and non-ASCII text shows as mojibake ("Ã©" for "é"). When a
//   sample's tokens use that alphabet, each token is mapped back to its bytes and decoded as
//   UTF-8; a token that is not valid UTF-8 on its own (a character split across tokens) keeps
//   its stand-ins, with only the space and newline marks translated.
// - SentencePiece marks a word start with "▁" (U+2581): read as a space.
// - WordPiece ("##able") and special tokens ("[CLS]", "<s>") are left as they are.
// - An unknown token ("[UNK]") shows the characters of the text it stands for, recorded from the
//   tokenizer's offsets at compute time (payload "unk_text": index -> characters): "[UNK]→☃".
//   The word axis gets the same labels from Python (payload.py unknown_label).
// A leading or inner space is drawn as "·" (a visible word start), a newline as "↵", a tab as
// "⇥", other control characters as \xNN, so no label is blank or breaks a line.

const TT_SPACE = "\u00b7";
const TT_MARKS = { " ": TT_SPACE, "\n": "\u21b5", "\t": "\u21e5", "\r": "\u240d" };

// GPT-2's bytes_to_unicode, inverted: stand-in character -> byte.
const TT_BYTE_OF = (() => {
  const printable = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map = new Map(printable.map((b) => [String.fromCharCode(b), b]));
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!printable.includes(b)) map.set(String.fromCharCode(256 + extra++), b);
  }
  return map;
})();

const TT_DECODER = new TextDecoder("utf-8", { fatal: true });

/** The tokenizer family a sample's tokens were written by: "bytes" | "sentencepiece" | "plain". */
export function tokenScheme(tokens) {
  if (tokens.some((t) => /[\u0120\u010a\u0109]/.test(t))) return "bytes";
  if (tokens.some((t) => t.includes("\u2581"))) return "sentencepiece";
  return "plain";
}

/** A byte-level token decoded to text, or null when it is not valid UTF-8 on its own. */
function ttBytes(token) {
  const bytes = new Uint8Array(token.length);
  for (let k = 0; k < token.length; k++) {
    const b = TT_BYTE_OF.get(token[k]);
    if (b === undefined) return null;
    bytes[k] = b;
  }
  try {
    return TT_DECODER.decode(bytes);
  } catch {
    return null;
  }
}

/** Spaces, newlines and other control characters as visible marks. */
function ttVisible(text) {
  return text.replace(/[\x00-\x1f ]/g, (c) => TT_MARKS[c] || `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** One raw token as display text under `scheme` (see tokenScheme). */
export function tokenText(token, scheme = "plain") {
  const raw = String(token);
  if (scheme === "bytes") {
    const decoded = ttBytes(raw);
    return ttVisible(decoded ?? raw.replace(/\u0120/g, " ").replace(/\u010a/g, "\n").replace(/\u0109/g, "\t"));
  }
  if (scheme === "sentencepiece") return ttVisible(raw.replace(/\u2581/g, " "));
  return raw;
}

// One labels array per raw array, so views that compare labels by identity keep their caches.
const ttCache = new WeakMap();

/** An unknown token with the characters it stands for ("[UNK]→☃"), marks made visible. */
export function unknownLabel(label, characters) {
  return `${label}\u2192${ttVisible(String(characters))}`;
}

/** Display labels for raw `texts` (tokens or words), the scheme read from `tokens`; `unknown`
 * (the payload's unk_text, token index -> characters) labels unknown tokens of the token axis. */
export function tokenLabels(texts, tokens = texts, unknown = null) {
  if (!ttCache.has(texts)) {
    const scheme = tokenScheme(tokens);
    let labels = scheme === "plain" ? texts : texts.map((t) => tokenText(t, scheme));
    if (unknown && texts === tokens && Object.keys(unknown).length) {
      labels = labels.map((label, k) => (Object.hasOwn(unknown, String(k)) ? unknownLabel(label, unknown[k]) : label));
    }
    ttCache.set(texts, labels);
  }
  return ttCache.get(texts);
}
