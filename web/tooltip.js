// tooltip.js — one floating box of text lines; hover shows, click locks, Escape clears.
// Text goes in with textContent only: token strings come from user sentences.

export function createTooltip(container) {
  const box = d3.select(container).append("div").attr("class", "tooltip").attr("id", "tooltip")
    .attr("role", "status").attr("hidden", "");
  let locked = false;

  function place(event) {
    const bounds = container.getBoundingClientRect();
    const x = event.clientX - bounds.left + 14;
    const y = event.clientY - bounds.top + 14;
    box.style("left", `${Math.min(x, bounds.width - 260)}px`).style("top", `${y}px`);
  }
  function show(lines, event, lock = false) {
    if (locked && !lock) return;
    locked = lock || locked;
    box.selectAll("p").data(lines).join("p").text((line) => line);
    box.attr("hidden", null).classed("is-locked", locked);
    place(event);
  }
  function hide(force = false) {
    if (locked && !force) return;
    locked = false;
    box.attr("hidden", "").classed("is-locked", false);
  }
  return { show, hide, isLocked: () => locked };
}
