"""Performance budgets of issue 3 on a 69-token, 12-layer sample (2-core CI machine).

First render ≤ 1 s after the data arrive, each switch ≤ 300 ms, ≤ 3,000 DOM elements in the
viz, no long task over 200 ms. Switches go through the real controls; each is timed in the page
from the change event to the next animation frame after the redraw.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

LONGTASKS = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longtasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
"""

TIME_CHANGE = """
async ([selector, value]) => {
  const element = document.querySelector(selector);
  const start = performance.now();
  element.value = value;
  element.dispatchEvent(new Event(element.type === "range" ? "input" : "change", { bubbles: true }));
  await window.ligsite.setState({});
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return performance.now() - start;
}
"""

SWITCHES = [("#sample", "short"), ("#sample", "long69"), ("#route", "composed"),
            ("#attBaseline", "self_input_token"), ("#route", "direct"),
            ("#layerBaseline", "itb_zero_ratio"), ("#scale", "layer"), ("#layer", "11"), ("#layer", "5")]


def test_budgets_hold_for_69_tokens_and_12_layers(viewer, site_url, record_property):
    viewer.page.add_init_script(LONGTASKS)
    viewer.open(site_url + "index.html#sample=long69&target=30")
    page = viewer.page
    first = page.evaluate("() => performance.measure('first', 'ligsite:data:long69', 'ligsite:render').duration")
    timings = {f"{sel}={value}": page.evaluate(TIME_CHANGE, [sel, value]) for sel, value in SWITCHES}
    elements = page.evaluate("() => document.querySelectorAll('#viz *').length")
    longtasks = page.evaluate("() => window.__longtasks")
    assert len(viewer.tokens()) == 69 and viewer.tokens()[:3] == ["[CLS]", "the", "quick"]
    assert page.evaluate("() => window.ligsite.getState()")["layer"] == 5  # every switch landed
    record_property("budgets", {"first_ms": first, "switch_ms": timings, "elements": elements, "longtasks": longtasks})
    print(f"\nfirst render {first:.0f} ms; switches {({k: round(v) for k, v in timings.items()})}; "
          f"{elements} elements; long tasks {longtasks}")
    assert first <= 1000
    assert max(timings.values()) <= 300, timings
    assert elements <= 3000
    assert all(duration <= 200 for duration in longtasks), longtasks


def test_budgets_hold_with_the_compare_head_flow_and_sensitivity_views_open(viewer, site_url, record_property):
    """Issue 13: the same budgets with A | B | A−B, the head grid, the flow and the sensitivity
    strip drawn on every switch."""
    viewer.page.add_init_script(LONGTASKS)
    pin = "sample%3Dlong69%26route%3Dcomposed%26attBaseline%3Dzero%26mlpBaseline%3Dzero%26layer%3D5"
    viewer.open(site_url + f"index.html#sample=long69&target=30&route=direct&layer=5&pin={pin}&head=all&attBaseline=zero")
    page = viewer.page
    page.wait_for_selector("#head-0")
    page.click("#flow-panel summary")  # flow across layers and the sensitivity strip open too
    page.click("#sensitivity-panel summary")
    page.wait_for_selector("#flow-map[data-values]")
    page.wait_for_selector("#sensitivity")
    first = page.evaluate("() => performance.measure('first', 'ligsite:data:long69', 'ligsite:render').duration")
    switches = [(sel, value) for sel, value in SWITCHES if sel != "#sample"]
    timings = {f"{sel}={value}": page.evaluate(TIME_CHANGE, [sel, value]) for sel, value in switches}
    elements = page.evaluate("() => document.querySelectorAll('#viz *').length")
    longtasks = page.evaluate("() => window.__longtasks")
    assert page.is_visible("#compare-section") and page.is_visible("#heads-grid") and page.is_visible("#flow-graph")
    record_property("budgets_views", {"first_ms": first, "switch_ms": timings, "elements": elements, "longtasks": longtasks})
    print(f"\nwith compare, heads, flow, sensitivity: first render {first:.0f} ms; switches {({k: round(v) for k, v in timings.items()})}; "
          f"{elements} elements; long tasks {longtasks}")
    assert first <= 1000
    assert max(timings.values()) <= 300, timings
    assert elements <= 3000
    assert all(duration <= 200 for duration in longtasks), longtasks
