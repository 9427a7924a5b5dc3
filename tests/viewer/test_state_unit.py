"""web/state.js, options.js and data.js in Chromium: URL round trip, state repair, decoding."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import make_payload, unit_page, unit_server  # noqa: E402,F401
from reference import checksum  # noqa: E402

pytestmark = pytest.mark.slow


def _run(page, body: str, arg=None):
    return page.evaluate("async (arg) => { const state = await import('/web/state.js');"
                         "const options = await import('/web/options.js');"
                         "const data = await import('/web/data.js');" + body + "}", arg)


def test_hash_round_trips_a_full_state_and_writes_every_key(unit_page):
    full = {"sample": "a b&c", "route": "composed", "layerBaseline": "zero", "attBaseline": "itb_map_ratio",
            "mlpBaseline": "att_itb_a0", "layer": "all", "target": 7, "norm": "share", "hideSelf": 1,
            "axis": "word", "scale": "layer", "theme": "dark", "wordAgg": "mean", "rankSelf": 1,
            "pin": "sample=a+b%26c&route=direct&layer=2", "head": "all", "embed": 1}
    hash_, back = _run(unit_page, "const h = state.formatHash(arg); return [h, state.parseHash(h)];", full)
    assert back == full
    keys = _run(unit_page, "return state.STATE_KEYS;")
    plain = _run(unit_page, "return state.formatHash({...state.defaultState(), sample: 's', layerBaseline: 'zero', layer: 3});")
    assert [part.split("=")[0] for part in plain[1:].split("&")] == keys  # every key, defaults too
    assert "target=&" in plain and "hideSelf=1" in plain and "rankSelf=0" in plain


def test_a_link_without_a_key_reads_it_with_the_old_default(unit_page):
    """Issue 13, defect 2: links written before every key was in the URL keep their meaning."""
    old = _run(unit_page, "return state.stateFromHash('#sample=s&layer=2');")
    assert old["sample"] == "s" and old["layer"] == 2
    assert (old["hideSelf"], old["rankSelf"], old["norm"], old["wordAgg"]) == (0, 1, "raw", "sum")
    fresh = _run(unit_page, "return state.stateFromHash('');")
    assert (fresh["hideSelf"], fresh["rankSelf"], fresh["norm"]) == (1, 0, "raw")
    site = _run(unit_page, "return state.stateFromHash('', {norm: 'share-noself'});")
    assert site["norm"] == "share-noself"
    linked = _run(unit_page, "return state.stateFromHash('#sample=s&norm=share', {norm: 'share-noself'});")
    assert linked["norm"] == "share" and linked["hideSelf"] == 0  # site defaults never reinterpret a link


def test_parse_hash_drops_malformed_values(unit_page):
    parsed = _run(unit_page, "return state.parseHash('#layer=-1&target=x&hideSelf=yes&bogus=1&route=direct');")
    assert parsed == {"layer": None, "target": None, "hideSelf": 0, "route": "direct"}


def test_resolve_state_keeps_only_combinations_in_the_data(unit_page):
    payload, _ = make_payload(["[CLS]", "a", "b", "[SEP]"], [0, 1, 2, 3], ["[CLS]", "a", "b", "[SEP]"], 3)
    payload["maps"]["composed:self_input_token+att_itb_a0"] = payload["maps"]["composed:zero+zero"]
    repaired = _run(unit_page, """
        const choices = options.choicesOf(arg);
        return options.resolveState({...state.defaultState(), route: 'composed', attBaseline: 'self_input_token',
                                     mlpBaseline: 'zero', layer: 9, target: 4, norm: 'bogus'}, choices);""", payload)
    assert repaired["attBaseline"] == "self_input_token" and repaired["mlpBaseline"] == "att_itb_a0"
    assert repaired["layer"] == 0 and repaired["target"] is None and repaired["norm"] == "raw"
    assert repaired["layerBaseline"] == "zero"


def test_decode_map_matches_python_and_checksum_matches_the_reference(unit_page):
    payload, decoded = make_payload(["[CLS]", "x", "y", "z", "[SEP]"], [0, 1, 2, 3, 4], ["[CLS]", "x", "y", "z", "[SEP]"], 2)
    stored = payload["maps"]["direct:zero"]
    codes = np.frombuffer(base64.b64decode(stored["data"]), dtype="<i2").copy()
    codes[3] = -32768  # one NaN cell
    stored["data"] = base64.b64encode(codes.tobytes()).decode()
    values, sums = _run(unit_page, """
        const map = data.decodeMap(arg);
        const shown = map.layers.map((v) => data.transposeSquare(v, map.size));
        return [map.layers.map((v) => Array.from(v, (x) => Number.isNaN(x) ? null : x)), data.checksum(shown)];""", stored)
    expected = decoded["direct:zero"].copy()
    expected.reshape(-1)[3] = np.nan
    got = np.array([[np.nan if v is None else v for v in layer] for layer in values]).reshape(expected.shape)
    np.testing.assert_array_equal(got, expected.astype(np.float64))
    assert sums == checksum([layer.T for layer in expected])
