"""Issue 4 in the built viewer: a 390 px phone, keyboard-only use, the spoken summary, budgets."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import watch_page  # noqa: E402
from papersite import paper_site  # noqa: E402,F401  (the module-scoped site fixture)
from reference import contrast  # noqa: E402

pytestmark = pytest.mark.slow
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture()
def phone(viewer_browser) -> Iterator[object]:
    """A 390 px wide touch page; fails on console / page errors and non-local requests."""
    context = viewer_browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    problems: list[str] = []
    watch_page(page, problems)
    yield page
    context.close()
    assert not problems, problems


def _state(page) -> dict:
    return page.evaluate("() => window.ligsite.getState()")


def test_phone_has_no_sideways_scroll_in_any_view(phone, site_url):
    phone.goto(site_url + "index.html#sample=long69")
    phone.evaluate("() => window.ligsite.ready")
    for partial in ({}, {"target": 30}, {"layer": "all"}, {"norm": "share", "axis": "word", "theme": "dark"}):
        phone.evaluate("(p) => window.ligsite.setState(p)", partial)
        assert phone.evaluate(NO_SIDEWAYS), partial
    phone.click("#diagnostics summary")
    phone.click("#table-view summary")
    assert phone.evaluate(NO_SIDEWAYS)
    phone.mouse.wheel(600, 0)
    assert phone.evaluate("() => window.scrollX") == 0


def test_phone_drawer_opens_by_tap_and_never_covers_the_data(phone, paper_site):
    url, _ = paper_site
    phone.goto(url + "index.html#sample=paper")
    phone.evaluate("() => window.ligsite.ready")
    assert phone.is_hidden("#controls") and phone.is_visible("#matrix")
    phone.tap("#controls-toggle")
    assert phone.is_visible("#controls")
    assert phone.get_attribute("#controls-toggle", "aria-expanded") == "true"
    controls, viz = phone.locator("#controls").bounding_box(), phone.locator("#viz").bounding_box()
    assert controls["y"] + controls["height"] <= viz["y"]  # in the flow above the data, not over it
    phone.select_option("#norm", "share")
    phone.wait_for_function("() => window.ligsite.getState().norm === 'share'")
    phone.tap("#controls-toggle")
    assert phone.is_hidden("#controls")
    assert phone.evaluate(NO_SIDEWAYS)


def test_phone_layer_stepper_and_target_picker_drive_the_single_layer_view(phone, paper_site):
    url, _ = paper_site
    phone.goto(url + "index.html#sample=paper")
    phone.evaluate("() => window.ligsite.ready")
    assert _state(phone)["layer"] == 0 and phone.is_hidden("#overview") and phone.is_visible("#matrix")
    assert phone.is_disabled("#layerPrev")
    phone.tap("#layerNext")
    phone.wait_for_function("() => window.ligsite.getState().layer === 1")
    assert phone.text_content("#layerName") == "layer 1"
    phone.select_option("#targetPicker", "5")
    phone.wait_for_function("() => window.ligsite.getState().target === 5")
    assert phone.text_content("#selection-live").startswith("Target 5 \u201ccat\u201d, layer 1: top sources:")
    assert phone.is_visible("#focus")


def _keyboard_select(page, row: int, col: int) -> None:
    page.focus("#matrix-holder .heatmap-overlay")
    page.keyboard.press("ArrowDown")  # the first arrow puts the focus cell on (0, 0)
    for _ in range(row):
        page.keyboard.press("ArrowDown")
    for _ in range(col):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")


def _click_select(page, row: int, col: int) -> None:
    box = page.locator("#matrix-holder .heatmap-overlay").bounding_box()
    rows = cols = len(page.evaluate("() => JSON.parse(document.querySelector('#matrix').dataset.tokens)"))
    page.mouse.click(box["x"] + (col + 0.5) * box["width"] / cols, box["y"] + (row + 0.5) * box["height"] / rows)


def _seen(viewer) -> dict:
    page = viewer.page
    page.wait_for_function("() => window.ligsite.getState().target !== null")
    return {"state": viewer.state(), "focus": viewer.checksum("#focus-matrix"),
            "tooltip": page.text_content("#tooltip"), "live": page.text_content("#selection-live"),
            "topk": page.text_content("#topk")}


def test_keyboard_only_selection_equals_a_click(viewer_browser, viewer, paper_site):
    url, _ = paper_site
    viewer.open(url + "index.html#sample=paper&layer=2&norm=share")
    _keyboard_select(viewer.page, 3, 2)
    by_key = _seen(viewer)
    assert by_key["state"]["target"] == 3
    assert "Target 3 \u201c##believ\u201d, layer 2" in by_key["live"]
    viewer.page.keyboard.press("Escape")
    viewer.page.wait_for_function("() => window.ligsite.getState().target === null")
    assert viewer.page.text_content("#selection-live") == "No target selected."
    _click_select(viewer.page, 3, 2)
    by_click = _seen(viewer)
    assert by_key == by_click


def test_arrow_keys_announce_the_focused_cell_before_enter(viewer, paper_site):
    url, _ = paper_site
    viewer.open(url + "index.html#sample=paper&layer=0")
    page = viewer.page
    page.focus("#matrix-holder .heatmap-overlay")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    live = page.text_content("#selection-live")
    assert live.startswith("Layer 0, target 1 \u201cthe\u201d from source 1 \u201cthe\u201d:")
    assert viewer.state()["target"] is None and page.is_visible("#tooltip")


# Switching an issue-4 control, timed like test_viewer_budgets: change event -> next frame.
TIME_CHANGE = """async ([selector, value]) => {
  const element = document.querySelector(selector);
  const start = performance.now();
  if (element.type === "checkbox") element.checked = value === "1"; else element.value = value;
  element.dispatchEvent(new Event("change", { bubbles: true }));
  await window.ligsite.setState({});
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return performance.now() - start;
}"""


def test_issue3_budgets_hold_with_the_new_controls(viewer, site_url):
    viewer.open(site_url + "index.html#sample=long69&target=30")
    switches = [("#norm", "share"), ("#axis", "word"), ("#hideSelf", "1"), ("#norm", "share-noself"),
                ("#theme", "dark"), ("#axis", "token"), ("#norm", "raw")]
    timings = {f"{s}={v}": viewer.page.evaluate(TIME_CHANGE, [s, v]) for s, v in switches}
    print(f"\nissue-4 switches (ms): {({k: round(v) for k, v in timings.items()})}")
    assert max(timings.values()) <= 300, timings
    assert viewer.page.evaluate("() => document.querySelectorAll('#viz *').length") <= 3000


# Every visible element with its own text: its text colour (CSS color, or fill for SVG text) and the
# first opaque background colour found walking up to the root.
TEXT_COLOURS = """() => {
  const opaque = (c) => c && c !== "transparent" && !/rgba\\(.*,\\s*0\\)$/.test(c);
  const background = (el) => { for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor; if (opaque(c)) return c; }
    return getComputedStyle(document.documentElement).backgroundColor; };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || !box.width || !box.height || el.closest("[hidden], .tooltip, option")) continue;
    const css = getComputedStyle(el);
    if (css.visibility === "hidden" || css.display === "none") continue;
    const fg = el instanceof SVGElement ? css.fill : css.color;
    out.push({ what: `${el.tagName}#${el.id}.${el.className.baseVal ?? el.className}`, fg, bg: background(el) });
  }
  return out;
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_visible_text_has_contrast_4_5_in_both_themes(viewer, paper_site, theme):
    url, _ = paper_site
    viewer.open(url + f"index.html#sample=paper&theme={theme}&target=3")
    viewer.page.click("#diagnostics summary")
    seen = viewer.page.evaluate(TEXT_COLOURS)
    assert len(seen) > 40
    low = [(s["what"], s["fg"], s["bg"], round(contrast(s["fg"], s["bg"]), 2)) for s in seen
           if contrast(s["fg"], s["bg"]) < 4.5]
    assert not low, low
    assert {"H1#.", "SPAN#.field-name", "P#selection-live.selection-live", "TD#.num"} <= {s["what"] for s in seen}
