"""Issue 13's fifteen viewer defects, each checked on real Chromium against the data it draws.

One test per defect, named by the promise the fixed viewer keeps. Sites: the paper site
(subword tokens, L2 and completeness; tests/viewer/papersite.py) and the fixture site
(69 tokens × 12 layers, a NaN target, CJK; tests/viewer/conftest.py).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from papersite import LABEL, N_LAYERS, TOKENS, WORD_INDEX, WORDS, paper_site, shown  # noqa: F401
from ligsite.payload import decode
from reference import checksum, display_matrix

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _tooltip(page) -> dict:
    return page.evaluate("() => { const t = document.querySelector('#tooltip');"
                         " return {hidden: t.hidden, locked: t.classList.contains('is-locked'), text: t.textContent}; }")


def _click_cell(page, row: int, col: int, holder: str = "#matrix-holder") -> None:
    """Click the centre of cell (row = target, col = source) of a heatmap's overlay canvas."""
    overlay = page.locator(f"{holder} .heatmap-overlay")
    box = overlay.bounding_box()
    cells = page.evaluate(f"() => {{ const m = document.querySelector('{holder} canvas.heatmap-cells');"
                          " return [m.dataset.tokens ? JSON.parse(m.dataset.tokens).length : 0]; }")[0]
    cell = box["width"] / cells
    overlay.click(position={"x": (col + 0.5) * cell, "y": (row + 0.5) * cell})


def _pixel(page, selector: str, x: float, y: float) -> list[int]:
    """RGB of a canvas pixel at CSS position (x, y) (device pixel ratio 1 in these tests)."""
    return page.evaluate("([s, x, y]) => Array.from(document.querySelector(s).getContext('2d')"
                         ".getImageData(Math.floor(x), Math.floor(y), 1, 1).data).slice(0, 3)", [selector, x, y])


def _matrix_cell_pixel(page, row: int, col: int) -> list[int]:
    n = len(json.loads(page.get_attribute("#matrix", "data-tokens")))
    width = page.evaluate("() => document.querySelector('#matrix').getBoundingClientRect().width")
    cell = width / n
    return _pixel(page, "#matrix", (col + 0.5) * cell, (row + 0.5) * cell)


# 1 ------------------------------------------------------------------------------------------
def test_a_locked_tooltip_is_cleared_by_any_state_change(viewer, paper_site):
    url, _ = paper_site
    viewer.open(url + "index.html#sample=paper&layer=1")
    page = viewer.page
    for change in ({"layer": 2}, {"norm": "share"}, {"route": "composed"}, {"sample": "paper", "layer": 0}):
        _click_cell(page, 3, 2)
        page.wait_for_function("() => window.ligsite.getState().target === 3")
        page.wait_for_function("() => document.querySelector('#tooltip').classList.contains('is-locked')")
        seen = _tooltip(page)
        assert not seen["hidden"] and "target 3" in seen["text"] and TOKENS[3] in seen["text"]
        viewer.set_state(**change)
        assert _tooltip(page)["hidden"], change  # before the fix it still named the old cell
        viewer.set_state(layer=1, norm="raw", route="direct")


# 2 ------------------------------------------------------------------------------------------
def test_first_view_hides_self_ranks_without_it_and_old_links_keep_their_meaning(viewer, paper_site):
    url, payload = paper_site
    viewer.open(url + "index.html")
    page = viewer.page
    state = viewer.state()
    assert state["hideSelf"] == 1 and state["rankSelf"] == 0 and state["norm"] == "raw"
    assert page.is_checked("#hideSelf") and not page.is_checked("#rankSelf")
    assert "self cells hidden" in page.text_content("#legend .legend-text")
    hidden = shown(payload, "direct:zero", 0, hide_self=True)
    assert viewer.checksum() == checksum([hidden])
    hash_ = page.evaluate("() => location.hash")
    for key in ("sample", "route", "layerBaseline", "layer", "target", "norm", "hideSelf", "axis", "scale",
                "theme", "wordAgg", "rankSelf"):
        assert f"{key}=" in hash_, key  # every key is written from now on
    # top sources leave the self cell out even when it is shown
    viewer.set_state(hideSelf=0, target=4)
    row = shown(payload, "direct:zero", 0)[4]
    order = [int(k) for k in np.argsort(-np.abs(row), kind="stable") if k != 4][:len(TOKENS) - 1]
    sources = page.eval_on_selector_all("#topk li", "li => li.map((x) => Number(x.dataset.source))")
    assert sources == order[:len(sources)] and 4 not in sources
    assert "self excluded" in page.text_content("#focus .focus-list h3")
    # a link written before the change (no hideSelf / rankSelf keys) shows what it showed
    page.goto("about:blank")
    viewer.open(url + "index.html#sample=paper&layer=0&target=4")
    state = viewer.state()
    assert state["hideSelf"] == 0 and state["rankSelf"] == 1
    assert viewer.checksum() == checksum([shown(payload, "direct:zero", 0)])
    full = [int(k) for k in np.argsort(-np.abs(row), kind="stable")]
    assert page.eval_on_selector_all("#topk li", "li => li.map((x) => Number(x.dataset.source))") == full[:len(sources) + 1][:10]


# 3 ------------------------------------------------------------------------------------------
def test_a_phone_page_is_never_widened_and_shows_data_on_the_first_screen(viewer_browser, fake_site_url):
    context = viewer_browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        phone.goto(fake_site_url + "index.html#sample=long69&layer=3")
        phone.evaluate("() => window.ligsite.ready")
        top = phone.evaluate("() => document.querySelector('#matrix').getBoundingClientRect().top")
        assert top < 844 - 100, top  # before: ≈ 920, below the first screen
        phone.click("#controls-toggle")
        assert phone.is_visible("#sample")
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, width  # before: ≈ 576 with the drawer open
    finally:
        context.close()


# 4 ------------------------------------------------------------------------------------------
def test_diagnostics_name_the_compared_maps_explain_each_metric_and_mark_the_layer(viewer, paper_site):
    url, payload = paper_site
    viewer.open(url + "index.html#sample=paper&route=composed&attBaseline=zero&mlpBaseline=zero&layer=2")
    page = viewer.page
    page.click("#diagnostics summary")
    caption = page.text_content("#diagnostics caption")
    assert "direct (baseline zero) vs composed (ATT zero × MLP zero)" in caption and "|" not in caption
    heads = page.eval_on_selector_all("#diagnostics thead th", "ths => ths.map((t) => t.textContent)")
    assert not any(":" in h for h in heads), heads  # no raw ids such as att:zero
    notes = page.eval_on_selector_all("#diagnostics .metric-notes dt", "dts => dts.map((d) => d.textContent)")
    assert notes == ["L2 abs", "L2 rel", "Pearson", "completeness"]
    assert page.get_attribute("#diagnostics tr[data-layer='2']", "aria-current") == "true"
    viewer.set_state(layer=3)
    assert page.get_attribute("#diagnostics tr[data-layer='3']", "aria-current") == "true"
    assert page.get_attribute("#diagnostics tr[data-layer='2']", "aria-current") is None
    # the direct baseline the L2 compares with is choosable on the composed route
    assert page.is_visible("#diag-layerBaseline") and page.is_hidden("#layerBaseline")
    page.select_option("#diag-layerBaseline", "self_input_token")
    page.wait_for_function("() => window.ligsite.getState().layerBaseline === 'self_input_token'")
    assert viewer.state()["route"] == "composed"
    assert "No L2 for direct (baseline ITB (self input token))" in page.text_content("#diagnostics caption")
    l2 = payload["l2"]["zero|zero+zero"]
    page.select_option("#diag-layerBaseline", "zero")
    page.wait_for_function("() => window.ligsite.getState().layerBaseline === 'zero'")
    cells = page.eval_on_selector_all("#diagnostics tr[data-layer='1'] td", "tds => tds.map((t) => t.title)")
    assert float(cells[0]) == l2["abs"][1] and float(cells[2]) == l2["pearson"][1]


# 5 ------------------------------------------------------------------------------------------
def test_a_deep_link_to_a_missing_sample_or_layer_says_what_is_shown_instead(viewer, fake_site_url):
    viewer.open(fake_site_url + "index.html#sample=gone&layer=0")
    page = viewer.page
    assert viewer.state()["sample"] == "long69"
    status = page.text_content("#status")
    assert "“gone” is not in this site" in status and "showing “long69”" in status
    page.goto("about:blank")  # a new page load, not a hash change on the same page
    viewer.open(fake_site_url + "index.html#sample=short&layer=40")
    status = page.text_content("#status")
    assert viewer.state()["layer"] == 0 and "Layer 40 is not in the data" in status and "showing layer 0" in status
    viewer.set_state(layer=2)
    assert page.text_content("#status") == ""  # the notice goes once the user moves on
    page.goto("about:blank")
    viewer.open(fake_site_url + "index.html#sample=short&layer=4")  # a valid link: no notice
    assert page.text_content("#status") == "" and viewer.state()["layer"] == 4


# 6 ------------------------------------------------------------------------------------------
def test_the_served_site_opened_from_disk_says_how_to_open_it(viewer_browser, fake_site_dir):
    context = viewer_browser.new_context()
    page = context.new_page()
    try:
        page.goto((fake_site_dir / "index.html").as_uri())
        page.wait_for_selector("#file-notice", state="visible")
        text = page.text_content("#file-notice")
        assert "ligsite serve" in text and "--single-file" in text  # before: a blank page
    finally:
        context.close()


# 7 ------------------------------------------------------------------------------------------
def test_selecting_a_target_on_a_long_sentence_brings_the_focus_panel_into_view(viewer, fake_site_url):
    viewer.open(fake_site_url + "index.html#sample=long69&layer=1")
    page = viewer.page
    _click_cell(page, 60, 10)
    page.wait_for_function("() => window.ligsite.getState().target === 60")
    page.wait_for_function("() => { const b = document.querySelector('#focus').getBoundingClientRect();"
                           " return b.top >= 0 && b.top < window.innerHeight - 80; }", timeout=3000)
    assert page.text_content("#focus-title").startswith("Target 60")


# 8 ------------------------------------------------------------------------------------------
def test_all_layers_large_has_labels_outlines_target_row_slider_and_tab_stops(viewer, paper_site):
    url, _ = paper_site
    viewer.open(url + "index.html#sample=paper&layer=all&target=3")
    page = viewer.page
    n = len(TOKENS)
    info = page.evaluate("() => Array.from(document.querySelectorAll('#overview canvas'), (c) =>"
                         " ({left: Number(c.dataset.left), top: Number(c.dataset.top), w: c.getBoundingClientRect().width}))")
    assert len(info) == N_LAYERS and all(p["left"] > 20 and p["top"] > 20 for p in info)  # room for labels
    left, top = info[0]["left"], info[0]["top"]
    cell = (info[0]["w"] - left) / n
    first = "#overview figure:first-child canvas"
    fg = page.evaluate("() => getComputedStyle(document.querySelector('#overview canvas')).color")
    ink = [int(v) for v in fg[fg.index("(") + 1:fg.index(")")].split(",")[:3]]
    label_ink = page.evaluate("([s, w, h]) => { const d = document.querySelector(s).getContext('2d')"
                              ".getImageData(0, h, w, 40).data; let k = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 128) k++;"
                              " return k; }", [first, int(left) - 2, int(top)])
    assert label_ink > 30  # token labels are drawn left of the cells
    assert _pixel(page, first, left + 1.5, top + (3 + 0.5) * cell) == ink  # the target row's frame
    assert _pixel(page, first, left + 5 * cell + 0.6, top + (5 + 0.5) * cell) == ink  # a self outline
    assert page.evaluate("() => Number(document.querySelector('#layer').value)") == N_LAYERS - 1  # was stuck at 0
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.matches('#overview figure')"):
            break
    else:
        pytest.fail("no overview panel is reachable with Tab")
    layer = page.evaluate("() => Number(document.activeElement.dataset.position)")
    page.keyboard.press("Enter")
    page.wait_for_function("(l) => window.ligsite.getState().layer === l", arg=layer)


# 9 ------------------------------------------------------------------------------------------
def test_the_word_axis_offers_sum_and_mean_and_the_legend_says_which(viewer, paper_site):
    url, payload = paper_site
    viewer.open(url + "index.html#sample=paper&layer=1&axis=word&wordAgg=mean")
    page = viewer.page
    m = decode(payload["maps"]["direct:zero"])[1].astype(np.float32).astype(np.float64)  # [source, target]
    idx = np.array(WORD_INDEX)
    sums = np.zeros((len(WORDS), len(WORDS)))
    np.add.at(sums, (idx[:, None], idx[None, :]), m)
    counts = np.bincount(idx).astype(np.float64)
    mean = (sums / (counts[:, None] * counts[None, :])).T.astype(np.float32)  # [target word, source word]
    summed = sums.T.astype(np.float32)
    assert viewer.tokens() == WORDS
    assert viewer.checksum() == checksum([mean])
    assert "mean over subword pairs" in page.text_content("#legend .legend-text")
    rows = list(csv.reader(io.StringIO(page.evaluate("() => window.ligsite.exportCSV()"))))
    got = np.array([[float(x) for x in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(got, mean, rtol=1e-5, atol=1e-7)
    page.select_option("#wordAgg", "sum")
    page.wait_for_function("() => window.ligsite.getState().wordAgg === 'sum'")
    assert viewer.checksum() == checksum([summed.astype(np.float32)])
    assert "subwords summed" in page.text_content("#legend .legend-text")
    assert np.abs(mean).max() < np.abs(summed).max()  # the long word no longer dominates


# 10 -----------------------------------------------------------------------------------------
def test_hidden_self_cells_have_their_own_mark_not_the_not_computed_grey(viewer, fake_site_url):
    viewer.open(fake_site_url + "index.html#sample=short&layer=2&hideSelf=1")  # target 4 not computed
    page = viewer.page
    hidden_self = _matrix_cell_pixel(page, 1, 1)
    not_computed = _matrix_cell_pixel(page, 4, 0)
    assert not_computed == [190, 190, 190] and hidden_self == [92, 92, 92]
    marks = page.eval_on_selector_all("#legend .legend-marks g", "gs => gs.map((g) => g.dataset.mark)")
    assert marks == ["nan", "hidden"]
    svg = page.evaluate("() => window.ligsite.exportSVG()")
    assert svg.count('class="self-hidden"') == 6 and 'fill="#5c5c5c"' in svg and 'fill="#bdbdbd"' in svg


# 11 -----------------------------------------------------------------------------------------
TIME_LAYER = """async (value) => {
  const element = document.querySelector('#layer');
  const start = performance.now();
  element.value = value;
  element.dispatchEvent(new Event('input', { bubbles: true }));
  await window.ligsite.setState({});
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  return performance.now() - start;
}"""


def test_the_table_view_is_paged_names_the_whole_state_and_keeps_switches_fast(viewer, fake_site_url, fake_site_dir):
    payload = json.loads((fake_site_dir / "data" / "long69.json").read_text(encoding="utf-8"))
    viewer.open(fake_site_url + "index.html#sample=long69&layer=0&target=40&hideSelf=0")
    page = viewer.page
    page.click("#table-view summary")
    rows = page.eval_on_selector_all("#table-view tbody tr", "trs => trs.map((tr) => Array.from(tr.cells, (c) => c.textContent))")
    assert len(rows) == 16 and rows[0][0].startswith("32 ")  # the page holding target 40
    expected = display_matrix(payload, "direct:zero", 0)[32]
    got = np.array([float(c.replace("\u2212", "-")) for c in rows[0][1:]])
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    caption = page.text_content("#table-view caption")
    for part in ("sample long69", "route direct", "layer 0", "token axis", "raw", "target rows 32–47 of 69"):
        assert part in caption, part
    assert page.evaluate("() => document.querySelectorAll('*').length") < 3000  # before: ~4,900 nodes
    timings = [page.evaluate(TIME_LAYER, str(k)) for k in (3, 7, 11)]
    assert max(timings) <= 300, timings  # before: ~460 ms
    page.click("#table-view .table-next")
    assert page.text_content("#table-view tbody tr th").startswith("48 ")


# 12 -----------------------------------------------------------------------------------------
def test_dark_mode_heatmaps_have_a_dark_centre_and_exports_stay_light_and_say_so(viewer, paper_site):
    url, _ = paper_site
    viewer.open(url + "index.html#sample=paper&theme=dark&layer=1")
    page = viewer.page
    assert page.get_attribute("#legend", "data-palette") == "dark"
    centre = page.get_attribute("#legend-gradient stop:nth-child(6)", "stop-color")
    rgb = [int(v) for v in centre[centre.index("(") + 1:centre.index(")")].split(",")]
    assert max(rgb) < 60, centre  # before: near-white #f7f7f7 on a dark page
    svg = page.evaluate("() => window.ligsite.exportSVG()")
    middle = svg.split('<stop offset="50%" stop-color="')[1].split('"')[0]
    assert "light palette" in svg and min(int(v) for v in middle[4:-1].split(",")) > 230, middle
    viewer.set_state(theme="light")
    assert page.get_attribute("#legend", "data-palette") == "light"


# 13 -----------------------------------------------------------------------------------------
def test_the_sample_select_shows_labels_or_text_and_provenance_is_folded(viewer, paper_site, fake_site_url):
    url, payload = paper_site
    viewer.open(url + "index.html")
    page = viewer.page
    assert page.eval_on_selector_all("#sample option", "os => os.map((o) => o.textContent)") == [
        f"{LABEL}: {payload['text']}"]
    page.click("#table-view summary")  # the table's caption names the sample by its label too
    assert page.text_content("#table-view caption").startswith(f"{LABEL} (sample paper) · route")
    viewer.open(fake_site_url + "index.html")
    options = page.eval_on_selector_all("#sample option", "os => os.map((o) => o.textContent)")
    assert options[0] == "a sentence of sixty-nine tokens" and not any(o.startswith("long69") for o in options)
    assert page.evaluate("() => document.querySelector('#provenance').tagName") == "DETAILS"
    assert not page.evaluate("() => document.querySelector('#provenance').open")
    assert "model: fake-random" in page.text_content("#provenance summary")
    assert "quadrature: gauss-legendre" in page.text_content("#provenance")


# 14 -----------------------------------------------------------------------------------------
def test_csv_names_columns_index_token_and_all_layers_export_every_layer(viewer, paper_site):
    url, payload = paper_site
    viewer.open(url + "index.html#sample=paper&layer=1")
    page = viewer.page
    rows = list(csv.reader(io.StringIO(page.evaluate("() => window.ligsite.exportCSV()"))))
    assert rows[0][1:] == [f"{k}:{t}" for k, t in enumerate(TOKENS)] and len(set(rows[0])) == len(rows[0])
    viewer.set_state(layer="all")
    rows = list(csv.reader(io.StringIO(page.evaluate("() => window.ligsite.exportCSV()"))))
    assert rows[0] == ["layer", "target_index", "target", "source_index", "source", "value"]
    n = len(TOKENS)
    assert len(rows) == 1 + N_LAYERS * n * n
    for pos in range(N_LAYERS):
        ref = shown(payload, "direct:zero", pos)
        block = rows[1 + pos * n * n: 1 + (pos + 1) * n * n]
        assert {int(r[0]) for r in block} == {pos}
        got = np.array([float(r[5]) for r in block]).reshape(n, n)  # [target, source]
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)
        assert block[n + 2][1:5] == ["1", TOKENS[1], "2", TOKENS[2]]


# 15 -----------------------------------------------------------------------------------------
def test_setup_installs_a_cjk_font_whichever_chromium_is_used():
    setup = (ROOT / ".ci" / "setup").read_text(encoding="utf-8")
    font_step = setup[setup.index("CJK font for the viewer"):]
    assert "fonts-noto-cjk" in font_step and "LIGSITE_CHROMIUM" in font_step
    assert font_step.index("fonts-noto-cjk") < font_step.index("torch_args")  # outside the browser branch


def _has_cjk_font() -> bool:
    try:
        return bool(subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=20).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _has_cjk_font(), reason="no CJK font installed: run .ci/setup (fonts-noto-cjk)")
def test_cjk_tokens_render_as_glyphs_in_the_exported_figure(viewer, fake_site_url):
    viewer.open(fake_site_url + "index.html#sample=cjk&layer=1")
    page = viewer.page
    png = page.evaluate("() => window.ligsite.exportPNG(1)")
    assert png.startswith("data:image/png")
    # two different CJK glyphs draw differently; missing-glyph boxes would be identical
    same = page.evaluate("""() => {
      const draw = (ch) => { const c = document.createElement('canvas'); c.width = 40; c.height = 40;
        const x = c.getContext('2d'); x.font = '28px Helvetica, Arial, sans-serif'; x.fillText(ch, 4, 32);
        return Array.from(x.getImageData(0, 0, 40, 40).data).join(','); };
      return draw('猫') === draw('座'); }""")
    assert not same


def test_a_site_can_choose_its_first_view_and_links_still_mean_what_they_say(viewer_browser, tmp_path):
    """Defect 2: the default is configurable per site (SiteMeta.defaults -> manifest "defaults")."""
    from jsunit import served
    from papersite import paper_payload
    from ligsite.site import SiteMeta, render_site

    render_site([paper_payload()], tmp_path / "site", SiteMeta(title="d", defaults={"norm": "share-noself"}))
    context = viewer_browser.new_context()
    page = context.new_page()
    try:
        with served(tmp_path / "site") as url:
            page.goto(url + "index.html")
            page.evaluate("() => window.ligsite.ready")
            assert page.evaluate("() => window.ligsite.getState().norm") == "share-noself"
            page.goto("about:blank")
            page.goto(url + "index.html#sample=paper&layer=1")  # a link without norm: the old default
            page.evaluate("() => window.ligsite.ready")
            assert page.evaluate("() => window.ligsite.getState().norm") == "raw"
    finally:
        context.close()
