"""Review fixes in the built viewer: per-layer vs shared colour range, sample label / source,
redraw on resize, share wording in tooltips and the focus list, CSV naming with all layers.

Expectations come from papersite.py's numpy references (decoded from the data file), never
from the viewer's own code.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from papersite import LABEL, N_LAYERS, SOURCE, TOKENS, paper_site, shown  # noqa: E402,F401
from reference import checksum  # noqa: E402

pytestmark = pytest.mark.slow
SVG = "{http://www.w3.org/2000/svg}"
RED_END, BLUE_END = (103, 0, 31), (5, 48, 97)  # d3.interpolateRdBu at 0 and 1: the palette's ends

PIXEL = """([selector, row, col, size]) => {
  const canvas = document.querySelector(selector);
  const x = Math.floor((col + 0.5) * canvas.width / size), y = Math.floor((row + 0.5) * canvas.height / size);
  return Array.from(canvas.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3));
}"""


def _layers(payload: dict, key: str = "direct:zero", **options: object) -> list[np.ndarray]:
    return [shown(payload, key, position, **options) for position in range(N_LAYERS)]


def _bound(matrix: np.ndarray) -> float:
    return float(np.nanmax(np.abs(matrix)))


def _wait_state(viewer, key: str, value: object) -> None:
    viewer.page.wait_for_function("([k, v]) => window.ligsite.getState()[k] === v", arg=[key, value])


def test_per_layer_colour_range_makes_a_faint_layer_use_the_whole_palette(viewer, paper_site):
    url, payload = paper_site
    layers = _layers(payload)
    faint = int(np.argmin([_bound(m) for m in layers]))
    shared = max(_bound(m) for m in layers)
    assert _bound(layers[faint]) < shared  # the fixture has a layer fainter than the others
    viewer.open(url + f"index.html#sample=paper&layer={faint}")
    page = viewer.page
    row, col = np.unravel_index(np.nanargmax(np.abs(layers[faint])), layers[faint].shape)
    end = RED_END if layers[faint][row, col] > 0 else BLUE_END
    legend = page.locator("#legend")
    assert legend.get_attribute("data-scale") == "shared"
    assert json.loads(legend.get_attribute("data-range")) == pytest.approx([-shared, shared], rel=1e-6)
    assert tuple(page.evaluate(PIXEL, ["#matrix", int(row), int(col), len(TOKENS)])) != end
    page.select_option("#scale", "layer")
    _wait_state(viewer, "scale", "layer")
    assert "scale=layer" in page.evaluate("() => location.hash")
    assert legend.get_attribute("data-scale") == "layer"
    assert json.loads(legend.get_attribute("data-range")) == pytest.approx([-_bound(layers[faint]), _bound(layers[faint])], rel=1e-6)
    assert f"±max of layer {faint} only" in page.text_content("#legend .legend-text")
    assert tuple(page.evaluate(PIXEL, ["#matrix", int(row), int(col), len(TOKENS)])) == end
    assert viewer.checksum() == checksum([layers[faint]])  # same values, other colours
    captions = page.eval_on_selector_all("#overview figcaption", "cs => cs.map(c => c.textContent)")
    assert captions == [f"layer {k}\n±{float(f'{_bound(m):.3g}'):g}" for k, m in enumerate(layers)]
    viewer.open(url + f"index.html#sample=paper&layer={faint}&scale=layer")  # a deep link keeps it
    assert viewer.state()["scale"] == "layer" and page.locator("#scale").input_value() == "layer"


def test_per_layer_range_in_the_all_layer_view_and_its_svg_export(viewer, paper_site):
    url, payload = paper_site
    layers = _layers(payload)
    viewer.open(url + "index.html#sample=paper&layer=all&scale=layer")
    page = viewer.page
    assert page.locator("#legend").get_attribute("data-range") == "per-layer"
    assert page.eval_on_selector_all("#legend .legend-ticks text", "ts => ts.map(t => t.textContent)") == ["−max", "0", "+max"]
    root = ET.fromstring(page.evaluate("() => window.ligsite.exportSVG()"))
    caption = "".join(next(e for e in root.iter(f"{SVG}text") if e.get("class") == "caption").itertext())
    assert "colour range per layer" in caption
    n = len(TOKENS)
    for panel in root.iter(f"{SVG}g"):
        if panel.get("class") != "panel":
            continue
        matrix = layers[int(panel.get("data-layer"))]
        title = next(e for e in panel.iter(f"{SVG}text") if e.get("class") == "title").text
        assert title == f"layer {panel.get('data-layer')} (±{float(f'{_bound(matrix):.3g}'):g})"
        cells = next(g for g in panel.iter(f"{SVG}g") if g.get("class") == "cells").findall(f"{SVG}rect")
        row, col = np.unravel_index(np.nanargmax(np.abs(matrix)), matrix.shape)
        end = RED_END if matrix[row, col] > 0 else BLUE_END
        assert cells[row * n + col].get("fill") == "rgb({},{},{})".format(*end)


def test_csv_with_all_layers_shown_holds_every_layer_in_long_format(viewer, paper_site):
    url, payload = paper_site
    viewer.open(url + "index.html#sample=paper&layer=all")
    page = viewer.page
    rows = list(csv.reader(io.StringIO(page.evaluate("() => window.ligsite.exportCSV()"))))
    n = len(TOKENS)
    # issue 13: every layer, long format (one line per layer, target, source), not only the last
    assert rows[0] == ["layer", "target_index", "target", "source_index", "source", "value"]
    assert len(rows) == 1 + N_LAYERS * n * n
    last = N_LAYERS - 1
    got = np.array([float(r[5]) for r in rows[1 + last * n * n:]]).reshape(n, n)
    np.testing.assert_allclose(got, shown(payload, "direct:zero", last), rtol=1e-5, atol=1e-7)
    with page.expect_download() as info:
        page.click("#export-csv")
    assert "-all-" in info.value.suggested_filename


def test_share_modes_state_the_share_once_in_tooltip_and_focus_list(viewer, paper_site):
    url, payload = paper_site
    ref = shown(payload, "direct:zero", 1, norm="share")
    viewer.open(url + "index.html#sample=paper&layer=1&norm=share&target=2")
    page = viewer.page
    page.evaluate("() => document.querySelector('#matrix').scrollIntoView({block: 'center'})")
    box = page.locator("#matrix").bounding_box()
    cell = box["width"] / len(TOKENS)
    page.mouse.move(box["x"] + 5.5 * cell, box["y"] + 2.5 * cell)
    text = page.text_content("#tooltip")
    assert text.count("share") == 1, text  # no "share of a share"
    assert f"{100 * ref[2, 5]:+.1f}%".replace("-", "\u2212") in text
    assert float(text.split("value ")[1].rstrip(")").replace("\u2212", "-")) == pytest.approx(ref[2, 5], rel=1e-5)
    items = page.eval_on_selector_all("#topk li", "ls => ls.map(l => [Number(l.dataset.source), "
                                      "l.querySelector('.value').textContent, l.querySelector('.share').textContent])")
    order = np.argsort(-np.abs(ref[2]), kind="stable")[: len(items)]
    assert [source for source, _, _ in items] == order.tolist()
    for (source, value, share), k in zip(items, order):
        assert float(value.replace("\u2212", "-").rstrip("%")) == pytest.approx(100 * ref[2, k], abs=0.051)
        assert share == ""
    assert "signed share of Σ|v|" in page.text_content("#focus .focus-list h3")


def test_sample_label_and_source_show_as_text(viewer, paper_site, fake_site_url):
    url, _ = paper_site
    viewer.open(url + "index.html#sample=paper")
    page = viewer.page
    assert page.text_content("#sample-meta") == f"label: {LABEL} · source: {SOURCE}"
    assert page.evaluate("() => document.querySelector('#sample-meta b')") is None
    viewer.open(fake_site_url + "index.html#sample=long69")  # no label, no source: no empty line
    assert page.text_content("#sample-meta") == "" and page.is_hidden("#sample-meta")


def test_window_resize_redraws_the_views_to_fit(viewer, paper_site):
    url, _ = paper_site
    viewer.open(url + "index.html#sample=paper&layer=2&target=3")
    page = viewer.page
    width = "() => document.querySelector('#matrix').getBoundingClientRect().width"
    wide = page.evaluate(width)
    checksum_before = viewer.checksum()
    page.set_viewport_size({"width": 390, "height": 800})
    page.wait_for_function(f"() => ({width})() < {wide}")
    narrow = page.evaluate(width)
    viz = page.evaluate("() => document.querySelector('#viz').clientWidth")
    assert narrow <= viz and page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert viewer.checksum() == checksum_before and viewer.state()["target"] == 3  # same data, same state
    page.set_viewport_size({"width": 1280, "height": 900})
    page.wait_for_function(f"() => ({width})() === {wide}")


def test_clicking_a_row_token_selects_that_target(viewer, paper_site):
    url, payload = paper_site
    viewer.open(url + "index.html#sample=paper&layer=2")
    page = viewer.page
    page.locator("#matrix-holder g.rows text", has_text="sat").click()
    page.wait_for_function("() => window.ligsite.getState().target === 7")
    assert page.is_visible("#focus") and TOKENS[7] == "sat"
    assert page.text_content("#focus-title").startswith("Target 7 \u201csat\u201d")
    assert viewer.checksum("#focus-matrix") == checksum(
        [np.stack([shown(payload, "direct:zero", p)[7] for p in range(N_LAYERS)])])
