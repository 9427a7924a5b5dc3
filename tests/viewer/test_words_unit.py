"""web/words.js and web/viewModel.js in Chromium: word sums against numpy, a shared word axis."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import F32, f32, js_nan, make_payload, unit_page, unit_server  # noqa: E402,F401

pytestmark = pytest.mark.slow

TOKENS = ["[CLS]", "the", "un", "##believ", "##able", "cat", ",", "sat", "[SEP]"]
WORD_INDEX = [0, 1, 2, 2, 2, 3, 4, 5, 6]
WORDS = ["[CLS]", "the", "unbelievable", "cat", ",", "sat", "[SEP]"]

# Page-side: decoded layers per map key -> the view model for a state (NaN back as null).
VIEW_JS = ("async ([payload, decoded, state]) => {" + F32
           + "const vm = await import('/web/viewModel.js');"
           + "const layersOf = (key) => decoded[key] && decoded[key].map(F32);"
           + "const v = vm.buildViewModel(state, payload, layersOf);"
           + "return {n: v.n, labels: v.labels, key: v.key, legend: v.legend, caption: v.caption,"
           + " domain: v.domain, panels: v.panels.map((p) => ({layer: p.layer,"
           + " values: Array.from(p.values, (x) => (Number.isNaN(x) ? null : x))}))}; }")


def _word_sums(m: np.ndarray, word_index: list[int], n_words: int) -> np.ndarray:
    """Reference: W[a, b] = Σ_{i∈a} Σ_{j∈b} m[i, j], NaN propagating."""
    out = np.zeros((n_words, n_words))
    idx = np.array(word_index)
    np.add.at(out, (idx[:, None], idx[None, :]), m.astype(np.float64))
    return out


def _decoded_lists(decoded: dict[str, np.ndarray]) -> dict[str, list[list[float]]]:
    return {key: [js_nan(f32(layer)) for layer in arr] for key, arr in decoded.items()}


def test_word_axis_sums_subword_rows_and_columns(unit_page: object) -> None:
    rng = np.random.default_rng(1)
    m = rng.normal(size=(len(TOKENS), len(TOKENS))).astype(np.float32)
    m[:, 4] = np.nan  # "##able" as a target was not computed -> word "unbelievable" unknown
    got = unit_page.evaluate(
        "async ([xs, n, wi, nw]) => {" + F32 + "const w = await import('/web/words.js');"
        "return Array.from(w.wordAxisLayer(F32(xs), n, wi, nw), (x) => (Number.isNaN(x) ? null : x)); }",
        [js_nan(f32(m)), len(TOKENS), WORD_INDEX, len(WORDS)])
    got = np.array([np.nan if v is None else v for v in got]).reshape(len(WORDS), len(WORDS))
    ref = _word_sums(m, WORD_INDEX, len(WORDS))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert np.isnan(got[:, 2]).all() and not np.isnan(got[:, 3]).any()
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-5, atol=1e-6)
    # specials stay their own words: row/column 0 equals the token's own row/column sums
    np.testing.assert_allclose(got[0, 0], m[0, 0], rtol=1e-6)


def test_word_axis_has_one_row_per_word_for_both_routes(unit_page: object) -> None:
    payload, decoded = make_payload(TOKENS, WORD_INDEX, WORDS, n_layers=3)
    lists = _decoded_lists(decoded)
    base = {"sample": "unit-sample", "layer": 1, "norm": "raw", "hideSelf": 0, "axis": "word",
            "layerBaseline": "zero", "attBaseline": "zero", "mlpBaseline": "zero", "target": None}
    direct = unit_page.evaluate(VIEW_JS, [payload, lists, {**base, "route": "direct"}])
    composed = unit_page.evaluate(VIEW_JS, [payload, lists, {**base, "route": "composed"}])
    for view, key in ((direct, "direct:zero"), (composed, "composed:zero+zero")):
        assert view["key"] == key and view["n"] == len(WORDS) and view["labels"] == WORDS
        assert len(view["panels"]) == 1 and view["panels"][0]["layer"] == 1
        ref = _word_sums(decoded[key][1], WORD_INDEX, len(WORDS))
        np.testing.assert_allclose(np.array(view["panels"][0]["values"]).reshape(ref.shape), ref,
                                   rtol=1e-5, atol=1e-5)


def test_token_axis_keeps_the_stored_matrix(unit_page: object) -> None:
    payload, decoded = make_payload(TOKENS, WORD_INDEX, WORDS, n_layers=2)
    state = {"sample": "unit-sample", "route": "direct", "layerBaseline": "self_input_token",
             "layer": "all", "norm": "raw", "hideSelf": 0, "axis": "token", "target": None}
    view = unit_page.evaluate(VIEW_JS, [payload, _decoded_lists(decoded), state])
    assert view["n"] == len(TOKENS) and view["labels"] == TOKENS
    assert [p["layer"] for p in view["panels"]] == [0, 1]
    for pos, panel in enumerate(view["panels"]):
        np.testing.assert_array_equal(np.array(panel["values"], dtype=np.float32),
                                      decoded["direct:self_input_token"][pos].ravel())
    assert view["domain"] == pytest.approx(float(np.abs(decoded["direct:self_input_token"]).max()))
    assert "sample unit-sample" in view["caption"] and "all layers" in view["caption"]


def test_word_axis_then_share_normalizes_word_columns(unit_page: object) -> None:
    payload, decoded = make_payload(TOKENS, WORD_INDEX, WORDS, n_layers=2)
    state = {"sample": "unit-sample", "route": "direct", "layerBaseline": "zero", "layer": 0,
             "norm": "share", "hideSelf": 0, "axis": "word", "target": None}
    view = unit_page.evaluate(VIEW_JS, [payload, _decoded_lists(decoded), state])
    got = np.array(view["panels"][0]["values"]).reshape(len(WORDS), len(WORDS))
    np.testing.assert_allclose(np.abs(got).sum(axis=0), 1.0, rtol=1e-5)
    ref = _word_sums(decoded["direct:zero"][0], WORD_INDEX, len(WORDS))
    np.testing.assert_allclose(got, ref / np.abs(ref).sum(axis=0), rtol=1e-4, atol=1e-6)
    assert view["legend"].startswith("share")


def test_bad_word_index_and_layer_raise_named_errors(unit_page: object) -> None:
    payload, decoded = make_payload(TOKENS, WORD_INDEX, WORDS, n_layers=2)
    bad = {**payload, "word_index": WORD_INDEX[:-1]}
    state = {"sample": "s", "route": "direct", "layerBaseline": "zero", "layer": 0, "norm": "raw",
             "hideSelf": 0, "axis": "word"}
    lists = _decoded_lists(decoded)
    wrap = VIEW_JS.replace("async ([payload, decoded, state]) => {",
                           "async ([payload, decoded, state]) => { try {", 1)[:-1] + "} catch (e) { return e.message; } }"
    assert "word_index has 8 entries for 9 tokens" == unit_page.evaluate(wrap, [bad, lists, state])
    message = unit_page.evaluate(wrap, [payload, lists, {**state, "axis": "token", "layer": 7}])
    assert "layer 7" in message and "0, 1" in message
