"""Issue 4 in the built viewer: exports, normalizations, word axis, diagnostics, dark mode.

Pages come from tests/viewer/conftest.py's `viewer` (fails on console errors, page errors,
dialogs and non-local requests); expectations come from papersite.py's numpy references.
"""

from __future__ import annotations

import csv
import io
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from papersite import TOKENS, WORDS, paper_site, shown  # noqa: E402,F401
from reference import checksum  # noqa: E402

pytestmark = pytest.mark.slow
SVG = "{http://www.w3.org/2000/svg}"


def _open(viewer, paper_site, fragment: str = "") -> dict:
    url, payload = paper_site
    viewer.open(url + "index.html#sample=paper" + fragment)
    return payload


def _wait_state(viewer, key: str, value: object) -> None:
    viewer.page.wait_for_function("([k, v]) => window.ligsite.getState()[k] === v", arg=[key, value])


def _download(page, selector: str) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path()).read_bytes()


def test_export_buttons_download_svg_png_and_csv_with_caption_and_tokens(viewer, paper_site):
    _open(viewer, paper_site, "&layer=1&norm=share&target=2")
    page = viewer.page
    svg = _download(page, "#export-svg").decode("utf-8")
    root = ET.fromstring(svg)
    caption = "".join(next(e for e in root.iter(f"{SVG}text") if e.get("class") == "caption").itertext())
    for part in ("sample paper", "route direct", "layer baseline zero", "layer 1", "share", "rows: targets"):
        assert part in caption, part
    texts = ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]
    assert all(texts.count(token) == 2 for token in TOKENS)
    assert svg == page.evaluate("() => window.ligsite.exportSVG()") + ""  # the button = the API
    png = _download(page, "#export-png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (2 * int(root.get("width")), 2 * int(root.get("height")))
    text = _download(page, "#export-csv").decode("utf-8")
    assert len(text.splitlines()) == len(TOKENS) + 1
    names = [f"{k}:{t}" for k, t in enumerate(TOKENS)]  # index:token (issue 13)
    assert next(csv.reader(io.StringIO(text))) == ["target \\ source", *names]  # "," is quoted


def test_export_csv_holds_the_shown_numbers(viewer, paper_site):
    payload = _open(viewer, paper_site, "&layer=2&norm=share-noself&axis=word&route=composed")
    rows = list(csv.reader(io.StringIO(viewer.page.evaluate("() => window.ligsite.exportCSV()"))))
    names = [f"{k}:{w}" for k, w in enumerate(WORDS)]
    assert rows[0][1:] == names and [r[0] for r in rows[1:]] == names
    got = np.array([[float(x) if x else np.nan for x in r[1:]] for r in rows[1:]])
    ref = shown(payload, "composed:zero+zero", 2, axis="word", norm="share-noself")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-5, atol=1e-7)


def test_exported_svg_is_light_even_in_dark_mode(viewer, paper_site):
    _open(viewer, paper_site, "&theme=dark")
    root = ET.fromstring(viewer.page.evaluate("() => window.ligsite.exportSVG()"))
    assert root.find(f"{SVG}rect[@class='background']").get("fill") == "#ffffff"
    dark = ET.fromstring(viewer.page.evaluate("() => window.ligsite.exportSVG({theme: 'dark'})"))
    assert dark.find(f"{SVG}rect[@class='background']").get("fill") == "#121212"


def _matrix_pixels(page) -> str:
    return page.evaluate("() => document.querySelector('#matrix').toDataURL()")


@pytest.mark.parametrize("norm", ["share", "share-noself"])
def test_normalization_changes_legend_text_colours_and_values(viewer, paper_site, norm):
    payload = _open(viewer, paper_site, "&layer=1")
    page = viewer.page
    legend, pixels = page.text_content("#legend .legend-text"), _matrix_pixels(page)
    assert legend.startswith("raw attribution")
    page.select_option("#norm", norm)
    _wait_state(viewer, "norm", norm)
    assert page.text_content("#legend .legend-text") != legend
    assert "share of the target" in page.text_content("#legend .legend-text")
    assert _matrix_pixels(page) != pixels
    assert viewer.checksum() == checksum([shown(payload, "direct:zero", 1, norm=norm)])


def test_hide_self_blanks_the_diagonal_and_says_so(viewer, paper_site):
    payload = _open(viewer, paper_site, "&layer=3")
    viewer.page.check("#hideSelf")
    _wait_state(viewer, "hideSelf", 1)
    assert viewer.checksum() == checksum([shown(payload, "direct:zero", 3, hide_self=True)])
    assert "self cells hidden" in viewer.page.text_content("#legend .legend-text")
    assert "hideSelf=1" in viewer.page.evaluate("() => location.hash")


@pytest.mark.parametrize("route, key", [("direct", "direct:zero"), ("composed", "composed:zero+zero")])
def test_word_axis_has_one_row_per_word_for_both_routes(viewer, paper_site, route, key):
    payload = _open(viewer, paper_site, f"&layer=0&route={route}")
    assert viewer.tokens() == TOKENS
    viewer.page.select_option("#axis", "word")
    _wait_state(viewer, "axis", "word")
    assert viewer.tokens() == WORDS and len(viewer.tokens()) == len(WORDS)
    assert viewer.checksum() == checksum([shown(payload, key, 0, axis="word")])


def test_axis_switch_carries_the_target_to_its_word_and_back(viewer, paper_site):
    _open(viewer, paper_site, "&layer=0&target=4")  # "##able" -> the word "unbelievable"
    viewer.page.select_option("#axis", "word")
    _wait_state(viewer, "axis", "word")
    assert viewer.state()["target"] == 2
    viewer.page.select_option("#axis", "token")
    _wait_state(viewer, "axis", "token")
    assert viewer.state()["target"] == 2  # back to the word's first token, "un"


def test_diagnostics_panel_shows_the_numbers_in_the_data(viewer, paper_site):
    payload = _open(viewer, paper_site, "&route=composed")
    page = viewer.page
    page.click("#diagnostics summary")
    rows = page.eval_on_selector_all("#diagnostics tbody tr", """rows => rows.map((tr) => Array.from(tr.cells,
        (c) => ({text: c.textContent, title: c.title, badge: !!c.querySelector('.badge')})))""")
    l2 = payload["l2"]["zero|zero+zero"]
    assert [r[0]["text"] for r in rows] == [str(layer) for layer in payload["layers"]]
    for pos, row in enumerate(rows):
        for col, name in enumerate(("abs", "rel", "pearson"), start=1):
            assert float(row[col]["text"]) == float(f"{l2[name][pos]:.3g}")
            assert float(row[col]["title"]) == l2[name][pos]
    assert [(r[0]["text"], c) for r in rows for c, cell in enumerate(r) if cell["badge"]] == [("2", 5)]


def test_dark_theme_has_a_dark_background_and_auto_follows_the_system(viewer, paper_site):
    _open(viewer, paper_site)
    page = viewer.page
    luminance = """() => { const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number)
      .map((c) => c / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b; }"""
    assert page.evaluate(luminance) > 0.9
    page.select_option("#theme", "dark")
    _wait_state(viewer, "theme", "dark")
    assert page.evaluate(luminance) < 0.2
    page.select_option("#theme", "auto")
    _wait_state(viewer, "theme", "auto")
    page.emulate_media(color_scheme="dark")
    assert page.evaluate(luminance) < 0.2
    page.emulate_media(color_scheme="light")
    assert page.evaluate(luminance) > 0.9


def test_table_view_lists_the_current_matrix(viewer, paper_site):
    payload = _open(viewer, paper_site, "&layer=1&norm=share")
    page = viewer.page
    assert page.locator("#table-view td").count() == 0  # built only when opened
    page.click("#table-view summary")
    rows = page.eval_on_selector_all("#table-view tbody tr", "rows => rows.map((tr) => Array.from(tr.cells, (c) => c.textContent))")
    assert [r[0] for r in rows] == [f"{k} {t}" for k, t in enumerate(TOKENS)]
    got = np.array([[float(c.replace("\u2212", "-")) for c in r[1:]] for r in rows])
    np.testing.assert_allclose(got, shown(payload, "direct:zero", 1, norm="share"), rtol=1e-5, atol=1e-9)
