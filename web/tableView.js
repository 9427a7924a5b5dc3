// tableView.js — the current matrix as an HTML table (rows = targets, columns = sources), for
// screen readers and copy-paste, one page of TABLE_ROWS targets at a time: a 69-token matrix is
// ~4,900 cells, too many for the page to keep (and rebuild on every switch). Built only while the
// panel is open. The caption names the whole state and the rows shown. Text via textContent only.
import { formatValue } from "./format.js";

export const TABLE_ROWS = 16;

/** The page (0-based) that holds `target`, or 0. */
export function tablePageOf(target, size) {
  return Number.isInteger(target) && target >= 0 && target < size ? Math.floor(target / TABLE_ROWS) : 0;
}

/** Replace `container`'s children with page `page` of `display` (size×size, rows = targets) and
 * previous / next buttons that call onPage(newPage). Returns the table. */
export function renderMatrixTable(container, { display, size, labels, caption }, page = 0, onPage = () => {}) {
  const doc = container.ownerDocument;
  const pages = Math.max(1, Math.ceil(size / TABLE_ROWS));
  const at = Math.max(0, Math.min(pages - 1, page));
  const from = at * TABLE_ROWS;
  const to = Math.min(size, from + TABLE_ROWS);
  const shape = JSON.stringify([labels, from, to]);
  const old = container.querySelector("table.matrix-table");
  if (old && old.__shape === shape) {  // same rows and columns: only the numbers and caption change
    old.caption.textContent = `${caption} · target rows ${from}–${to - 1} of ${size} (page ${at + 1} of ${pages})`;
    Array.from(old.tBodies[0].rows).forEach((tr, k) => {
      const row = from + k;
      for (let col = 0; col < size; col++) {
        const text = formatValue(display[row * size + col]);
        const td = tr.cells[col + 1];
        if (td.textContent !== text) td.textContent = text;
      }
    });
    return old;
  }
  const table = doc.createElement("table");
  table.__shape = shape;
  table.className = "matrix-table";
  table.dataset.rows = `${from}-${to - 1}`;
  table.createCaption().textContent = `${caption} · target rows ${from}–${to - 1} of ${size} (page ${at + 1} of ${pages})`;
  const head = table.createTHead().insertRow();
  const corner = doc.createElement("th");
  corner.textContent = "target \\ source";
  head.append(corner);
  labels.forEach((label, k) => {
    const th = doc.createElement("th");
    th.scope = "col";
    th.textContent = `${k} ${label}`;
    head.append(th);
  });
  const body = table.createTBody();
  for (let row = from; row < to; row++) {
    const tr = body.insertRow();
    const th = doc.createElement("th");
    th.scope = "row";
    th.textContent = `${row} ${labels[row]}`;
    tr.append(th);
    for (let col = 0; col < size; col++) tr.insertCell().textContent = formatValue(display[row * size + col]);
  }
  const nav = doc.createElement("div");
  nav.className = "table-pages";
  for (const [text, step] of [["◀ previous rows", -1], ["next rows ▶", 1]]) {
    const button = doc.createElement("button");
    button.type = "button";
    button.textContent = text;
    button.className = step < 0 ? "table-prev" : "table-next";
    button.disabled = at + step < 0 || at + step >= pages;
    button.addEventListener("click", () => onPage(at + step));
    nav.append(button);
  }
  container.replaceChildren(nav, table);
  return table;
}
