// tooltip.js — one floating box of text lines; hover shows, click locks, Escape clears.
// A locked box belongs to the state it was locked on (its URL hash): any other state clears it,
// so it never describes a cell of another sample, layer, route or normalization.
// Text goes in with textContent only: token strings come from user sentences.

export function createTooltip(container) {
  const box = d3.select(container).append("div").attr("class", "tooltip").attr("id", "tooltip")
    .attr("role", "status").attr("hidden", "");
  let lockedOn = null;  // the state hash a click locked the box on, or null

  function place(event) {
    const bounds = container.getBoundingClientRect();
    const x = event.clientX - bounds.left + 14;
    const y = event.clientY - bounds.top + 14;
    box.style("left", `${Math.min(x, bounds.width - 260)}px`).style("top", `${y}px`);
  }
  /** Show `lines`; with `lockKey` (a state hash) the box stays until that state changes. */
  function show(lines, event, lockKey = null) {
    if (lockedOn !== null && lockKey === null) return;
    if (lockKey !== null) lockedOn = lockKey;
    box.selectAll("p").data(lines).join("p").text((line) => line);
    box.attr("hidden", null).classed("is-locked", lockedOn !== null);
    place(event);
  }
  function hide(force = false) {
    if (lockedOn !== null && !force) return;
    lockedOn = null;
    box.attr("hidden", "").classed("is-locked", false);
  }
  /** After a redraw: a box locked on another state is cleared. */
  function keepIf(stateKey) {
    if (lockedOn !== null && lockedOn !== stateKey) hide(true);
  }
  return { show, hide, keepIf, isLocked: () => lockedOn !== null };
}
