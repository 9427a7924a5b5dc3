"""web/a11y.js, web/tableView.js and web/shown.js in Chromium: keys, spoken summary, table, shown maps."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import F32, f32, js_nan, make_payload, unit_page, unit_server  # noqa: E402,F401

pytestmark = pytest.mark.slow
TOKENS = ["[CLS]", "un", "##fair", "game", "[SEP]"]
WORD_INDEX = [0, 1, 1, 2, 3]
WORDS = ["[CLS]", "unfair", "game", "[SEP]"]


def test_arrow_keys_move_and_clamp_at_the_edges(unit_page: object) -> None:
    moves = unit_page.evaluate(
        "async () => { const a = await import('/web/a11y.js'); const s = a.gridStep;"
        "return [s(null, 'ArrowDown', 3, 4), s({row: 0, col: 0}, 'ArrowUp', 3, 4),"
        " s({row: 1, col: 1}, 'ArrowRight', 3, 4), s({row: 2, col: 3}, 'ArrowDown', 3, 4),"
        " s({row: 2, col: 3}, 'ArrowRight', 3, 4), s({row: 1, col: 2}, 'Home', 3, 4),"
        " s({row: 1, col: 2}, 'End', 3, 4), s({row: 1, col: 2}, 'x', 3, 4)]; }")
    assert moves == [{"row": 0, "col": 0}, {"row": 0, "col": 0}, {"row": 1, "col": 2},
                     {"row": 2, "col": 3}, {"row": 2, "col": 3}, {"row": 1, "col": 0},
                     {"row": 1, "col": 3}, None]


def test_summary_names_target_and_its_top_sources_by_magnitude(unit_page: object) -> None:
    display = [0.1, -0.5, 0.2, None,  # row 0 = target 0 receives from sources 0..3
               0.0, 0.3, -0.05, 0.9,
               0, 0, 0, 0,
               0, 0, 0, 0]
    text = unit_page.evaluate(
        "async ([xs]) => {" + F32 + "const a = await import('/web/a11y.js');"
        "const v = {display: F32(xs), size: 4, labels: ['a', 'b', 'c', 'd'], layer: 3, legend: 'raw'};"
        "return [a.selectionSummary({...v, target: 0}, 2), a.selectionSummary({...v, target: null}),"
        " a.cellSummary(v, {row: 1, col: 3})]; }", [js_nan(f32(np.array(display, dtype=float)))])
    assert text[0].startswith("Target 0 \u201ca\u201d, layer 3: top sources: \u201cb\u201d \u22120.500000, \u201cc\u201d +0.200000")
    assert text[1] == "No target selected."
    assert "target 1 \u201cb\u201d from source 3 \u201cd\u201d: +0.900000" in text[2]


def test_table_view_holds_every_value_with_labels(unit_page: object) -> None:
    rng = np.random.default_rng(4)
    display = rng.normal(size=(3, 3)).astype(np.float32)
    seen = unit_page.evaluate(
        "async ([xs]) => {" + F32 + "const t = await import('/web/tableView.js');"
        "const box = document.createElement('div'); document.body.append(box);"
        "t.renderMatrixTable(box, {display: F32(xs), size: 3, labels: ['<b>x</b>', 'y', 'z'], caption: 'cap'});"
        "return {rows: Array.from(box.querySelectorAll('tbody tr'), (tr) => Array.from(tr.cells, (c) => c.textContent)),"
        " head: Array.from(box.querySelectorAll('thead th'), (th) => th.textContent),"
        " bold: box.querySelectorAll('b').length}; }", [f32(display)])
    assert seen["head"] == ["target \\ source", "0 <b>x</b>", "1 y", "2 z"] and seen["bold"] == 0
    assert [row[0] for row in seen["rows"]] == ["0 <b>x</b>", "1 y", "2 z"]
    got = np.array([[float(c.replace("\u2212", "-")) for c in row[1:]] for row in seen["rows"]])
    np.testing.assert_allclose(got, display, rtol=1e-5)


def test_shown_map_is_word_summed_normalized_and_transposed(unit_page: object) -> None:
    payload, decoded = make_payload(TOKENS, WORD_INDEX, WORDS, n_layers=2, seed=9)
    unit_page.add_script_tag(url="/web/vendor/d3.min.js")
    state = {"route": "direct", "layerBaseline": "zero", "axis": "word", "norm": "share", "hideSelf": 1}
    seen = unit_page.evaluate(
        "async ([payload, layers, state]) => {" + F32 + "const s = await import('/web/shown.js');"
        "const sample = {payload};"
        "const a = s.shownMap(sample, state, {layers: layers.map(F32)});"
        "const b = s.shownMap(sample, state, {layers: layers.map(F32)});"
        "return {same: a === b, size: a.size, labels: a.labels, legend: a.legend, bound: a.scale.bound,"
        " display: a.display.map((d) => Array.from(d, (x) => (Number.isNaN(x) ? null : x)))}; }",
        [payload, [f32(layer) for layer in decoded["direct:zero"]], state])
    assert seen["same"] and seen["size"] == len(WORDS) and seen["labels"] == WORDS
    assert "self cells hidden" in seen["legend"]
    idx = np.array(WORD_INDEX)
    for pos, shown in enumerate(seen["display"]):
        words = np.zeros((len(WORDS), len(WORDS)))
        np.add.at(words, (idx[:, None], idx[None, :]), decoded["direct:zero"][pos].astype(np.float64))
        ref = (words / np.abs(words).sum(axis=0, keepdims=True)).T  # rows = targets
        np.fill_diagonal(ref, np.nan)
        got = np.array([np.nan if v is None else v for v in shown]).reshape(ref.shape)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        np.testing.assert_allclose(got[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-4, atol=1e-6)
