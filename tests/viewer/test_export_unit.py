"""web/export.js in Chromium: SVG (XML, caption, tokens as text), CSV (T+1 lines), PNG (2x)."""

from __future__ import annotations

import base64
import csv
import io
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import F32, f32, js_nan, make_payload, unit_page, unit_server  # noqa: E402,F401

pytestmark = pytest.mark.slow
SVG_NS = "{http://www.w3.org/2000/svg}"
TOKENS = ["[CLS]", "a,b", 'say "hi"', "</text><script>alert(1)</script>", "猫", "[SEP]"]
WORD_INDEX = list(range(len(TOKENS)))
STATE = {"sample": "unit-sample", "route": "composed", "layerBaseline": "zero", "attBaseline": "zero",
         "mlpBaseline": "zero", "layer": 1, "norm": "share", "hideSelf": 0, "axis": "token",
         "target": 2, "theme": "dark"}

# Page-side: the view model for a state, then one export call on it.
EXPORT_JS = ("async ([payload, decoded, state, what, opts]) => {" + F32
             + "const vm = await import('/web/viewModel.js');"
             + "const ex = await import('/web/export.js');"
             + "const view = vm.buildViewModel(state, payload, (key) => decoded[key].map(F32));"
             + "if (what === 'csv') return ex.exportCSV(view.panels[0].values, view.labels);"
             + "const svg = ex.exportSVG(state, view, opts || {});"
             + "if (what === 'svg') return svg;"
             + "return {svg, png: await ex.exportPNG(svg, 2)}; }")


@pytest.fixture(scope="module")
def sample() -> tuple[dict, dict]:
    payload, decoded = make_payload(TOKENS, WORD_INDEX, TOKENS, n_layers=3, seed=5)
    lists = {key: [js_nan(f32(layer)) for layer in arr] for key, arr in decoded.items()}
    return payload, lists, decoded


def _export(page: object, sample: tuple, what: str, state: dict = STATE, opts: dict | None = None) -> object:
    payload, lists, _ = sample
    return page.evaluate(EXPORT_JS, [payload, lists, state, what, opts])


def test_csv_has_header_of_sources_and_one_line_per_target(unit_page: object, sample: tuple) -> None:
    text = _export(unit_page, sample, "csv")
    assert text.endswith("\n") and len(text.splitlines()) == len(TOKENS) + 1
    rows = list(csv.reader(io.StringIO(text)))
    names = [f"{k}:{t}" for k, t in enumerate(TOKENS)]  # index:token, unique when tokens repeat
    assert rows[0] == ["target \\ source", *names]  # commas, quotes and HTML survive quoting
    assert [r[0] for r in rows[1:]] == names
    m = sample[2]["composed:zero+zero"][1].astype(np.float64)  # [source, target]
    share = m / np.abs(m).sum(axis=0, keepdims=True)
    got = np.array([[float(x) for x in r[1:]] for r in rows[1:]])  # [target, source]
    np.testing.assert_allclose(got, share.T, rtol=1e-5, atol=1e-7)


def test_csv_leaves_nan_cells_empty(unit_page: object, sample: tuple) -> None:
    text = _export(unit_page, sample, "csv", {**STATE, "hideSelf": 1})
    rows = list(csv.reader(io.StringIO(text)))
    assert all(rows[1 + k][1 + k] == "" for k in range(len(TOKENS)))
    assert rows[1][2] != ""


def test_svg_is_xml_with_caption_tokens_as_text_and_one_rect_per_cell(unit_page: object, sample: tuple) -> None:
    svg = _export(unit_page, sample, "svg")
    root = ET.fromstring(svg)
    caption = "".join(next(e for e in root.iter(f"{SVG_NS}text") if e.get("class") == "caption").itertext())
    for part in ("sample unit-sample", "composed", "att baseline zero", "mlp baseline zero", "layer 1",
                 "share", "rows: targets", "columns: sources"):
        assert part in caption, part
    texts = ["".join(e.itertext()) for e in root.iter(f"{SVG_NS}text")]
    for token in TOKENS:
        assert texts.count(token) == 2, token  # once as a row label, once as a column label
    assert not list(root.iter(f"{SVG_NS}script"))
    cells = root.find(f"{SVG_NS}g[@class='panel']/{SVG_NS}g[@class='cells']")
    assert len(cells) == len(TOKENS) ** 2
    assert root.find(f"{SVG_NS}rect[@class='background']").get("fill") == "#ffffff"  # light by default


def test_svg_cell_colours_follow_the_sign_of_the_value(unit_page: object, sample: tuple) -> None:
    root = ET.fromstring(_export(unit_page, sample, "svg", {**STATE, "norm": "raw"}))
    cells = list(root.find(f"{SVG_NS}g[@class='panel']/{SVG_NS}g[@class='cells']"))
    m = sample[2]["composed:zero+zero"][1]  # [source, target]; cells run row = target, col = source
    n = len(TOKENS)
    for k, rect in enumerate(cells):
        v = m[k % n, k // n]
        r, b = int(rect.get("fill")[1:3], 16), int(rect.get("fill")[5:7], 16)
        if abs(v) > 0.2 * np.abs(m).max():
            assert (r > b) == (v > 0), (k, v, rect.get("fill"))


def test_svg_is_deterministic_and_all_layers_give_one_panel_each(unit_page: object, sample: tuple) -> None:
    state = {**STATE, "layer": "all"}
    first, second = _export(unit_page, sample, "svg", state), _export(unit_page, sample, "svg", state)
    assert first == second
    panels = ET.fromstring(first).findall(f"{SVG_NS}g[@class='panel']")
    assert [p.get("data-layer") for p in panels] == ["0", "1", "2"]


def test_svg_dark_option_changes_background_only_when_asked(unit_page: object, sample: tuple) -> None:
    root = ET.fromstring(_export(unit_page, sample, "svg", STATE, {"theme": "dark"}))
    assert root.find(f"{SVG_NS}rect[@class='background']").get("fill") == "#121212"


def test_png_is_a_png_at_twice_the_svg_width(unit_page: object, sample: tuple) -> None:
    out = _export(unit_page, sample, "png")
    root = ET.fromstring(out["svg"])
    prefix = "data:image/png;base64,"
    assert out["png"].startswith(prefix)
    png = base64.b64decode(out["png"][len(prefix):])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width == 2 * int(root.get("width")) and height == 2 * int(root.get("height"))


# A fixed 3-token view (values in [source][target] order) for the stored-expectation check.
GOLDEN_JS = """async () => {
  const ex = await import('/web/export.js');
  const view = {n: 3, labels: ['[CLS]', 'a&b', '[SEP]'], domain: 2, legend: 'raw attribution',
    caption: 'sample golden · route direct, layer baseline zero · layer 4 · token axis · raw: raw attribution',
    panels: [{layer: 4, values: Float32Array.from([0.5, -2, 0, 1.25, NaN, -0.75, 2, 0.1, -1])}]};
  return ex.exportSVG({target: 1}, view);
}"""
GOLDEN = Path(__file__).parent / "expected" / "export_golden.svg"


def test_svg_matches_the_stored_expectation(unit_page: object) -> None:
    """Byte-for-byte: layout, colours and number formatting only change on purpose."""
    assert unit_page.evaluate(GOLDEN_JS) == GOLDEN.read_text(encoding="utf-8")


def test_svg_caption_can_be_replaced_titled_sized_or_hidden(unit_page: object, sample: tuple) -> None:
    """Issue 13 (publishing mode): the figures spec's caption / title / font_size, in exportSVG."""
    plain = ET.fromstring(_export(unit_page, sample, "svg"))
    replaced = ET.fromstring(_export(unit_page, sample, "svg", opts={"caption": "Fig. 2 <a> & b", "title": "Layer 1",
                                                                     "font_size": 16}))
    texts = {e.get("class"): "".join(e.itertext()) for e in replaced.iter(f"{SVG_NS}text") if e.get("class") in ("caption", "figure-title")}
    assert texts == {"caption": "Fig. 2 <a> & b", "figure-title": "Layer 1"}
    caption = next(e for e in replaced.iter(f"{SVG_NS}text") if e.get("class") == "caption")
    assert caption.get("font-size") == "16"
    hidden = ET.fromstring(_export(unit_page, sample, "svg", opts={"caption": ""}))
    assert not [e for e in hidden.iter(f"{SVG_NS}text") if e.get("class") == "caption"]
    assert int(hidden.get("height")) < int(plain.get("height"))  # no dead space where the caption was
    cells = lambda root: [r.get("fill") for r in root.iter(f"{SVG_NS}rect") if r.get("fill", "").startswith("#")]  # noqa: E731
    assert cells(hidden) == cells(plain)  # the same data either way
