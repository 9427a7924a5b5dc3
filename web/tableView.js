// tableView.js — the current matrix as an HTML table (rows = targets, columns = sources), for
// screen readers and copy-paste. Built only when the user opens it: a 69-token matrix is ~4,900
// cells, too many to keep in the page all the time. Text goes in via textContent only.
import { formatValue } from "./format.js";

/** Replace `container`'s children with a table of `display` (size×size, rows = targets). */
export function renderMatrixTable(container, { display, size, labels, caption }) {
  const doc = container.ownerDocument;
  const table = doc.createElement("table");
  table.className = "matrix-table";
  table.createCaption().textContent = caption;
  const head = table.createTHead().insertRow();
  const corner = doc.createElement("th");
  corner.textContent = "target \\ source";
  head.append(corner);
  for (const label of labels) {
    const th = doc.createElement("th");
    th.scope = "col";
    th.textContent = label;
    head.append(th);
  }
  const body = table.createTBody();
  for (let row = 0; row < size; row++) {
    const tr = body.insertRow();
    const th = doc.createElement("th");
    th.scope = "row";
    th.textContent = labels[row];
    tr.append(th);
    for (let col = 0; col < size; col++) tr.insertCell().textContent = formatValue(display[row * size + col]);
  }
  container.replaceChildren(table);
  return table;
}
