"""web/diagnostics.js in Chromium: the panel shows the payload's L2 and completeness numbers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import unit_page, unit_server  # noqa: E402,F401

pytestmark = pytest.mark.slow
LAYERS = [0, 2, 5]  # true block indices differ from positions on purpose
T, H = 4, 2
STATE = {"route": "composed", "layerBaseline": "zero", "attBaseline": "zero", "mlpBaseline": "zero"}

# Page-side: render the panel into a fresh container; return what a reader sees per cell.
RENDER_JS = """async ([state, payload]) => {
  const dg = await import('/web/diagnostics.js');
  const box = document.createElement('section');
  document.body.replaceChildren(box);
  dg.renderDiagnostics(box, state, payload);
  const cells = (row) => Array.from(row.cells, (c) => ({text: c.textContent, title: c.title,
    badge: c.querySelector('.badge') ? c.querySelector('.badge').getAttribute('aria-label') : null}));
  return {caption: box.querySelector('caption').textContent,
          head: Array.from(box.querySelectorAll('thead th'), (th) => th.textContent),
          rows: Array.from(box.querySelectorAll('tbody tr'), cells),
          foot: Array.from(box.querySelectorAll('tfoot tr'), cells)};
}"""


def _payload() -> dict:
    rng = np.random.default_rng(2)
    ratio = lambda *shape: (1 + rng.normal(scale=0.01, size=shape)).round(6)  # noqa: E731
    att = ratio(len(LAYERS), H, T)
    att[1, 1, 3] = 0.9  # the engine flagged this one
    layer = ratio(len(LAYERS), T).astype(object)
    layer[0, 2] = None  # nothing to attribute for that target
    return {
        "layers": LAYERS, "tokens": ["[CLS]", "a", "b", "[SEP]"],
        "completeness": {"layer:zero": layer.tolist(), "att:zero": att.tolist(), "mlp:zero": ratio(len(LAYERS), T).tolist()},
        "l2": {"zero|zero+zero": {"abs": [0.0123456, 1.5, 27.26], "rel": [0.01, 0.2345678, 0.5],
                                  "pearson": [0.999912, 0.87654, -0.1234], "pooled": {"abs": 3.14159, "rel": 0.2, "pearson": 0.95}}},
        "warnings": ["layer 2 att:zero: 1 completeness ratios off by more than 0.05 (worst: target 3 head 1, ratio 0.9000)"],
    }


def _worst(values: list) -> float:
    flat = np.array([v for v in np.array(values, dtype=object).ravel() if v is not None], dtype=float)
    return float(flat[np.argmax(np.abs(flat - 1))])


def test_l2_cells_show_the_data_at_three_digits_with_exact_titles(unit_page: object) -> None:
    payload = _payload()
    seen = unit_page.evaluate(RENDER_JS, [STATE, payload])
    assert seen["head"][:4] == ["layer", "L2 abs", "L2 rel", "Pearson"]
    assert [r[0]["text"] for r in seen["rows"]] == ["0", "2", "5"]
    l2 = payload["l2"]["zero|zero+zero"]
    for pos, row in enumerate(seen["rows"]):
        for col, name in enumerate(("abs", "rel", "pearson"), start=1):
            exact = l2[name][pos]
            assert float(row[col]["text"]) == float(f"{exact:.3g}"), (pos, name, row[col])
            assert float(row[col]["title"]) == exact
    assert seen["rows"][1][2]["text"] == "0.235" and seen["rows"][0][1]["text"] == "0.0123"
    assert [c["text"] for c in seen["foot"][0]] == ["pooled", "3.14", "0.2", "0.95"]


def test_completeness_shows_worst_ratio_per_layer_and_key(unit_page: object) -> None:
    payload = _payload()
    seen = unit_page.evaluate(RENDER_JS, [STATE, payload])
    keys = ["layer:zero", "att:zero", "mlp:zero"]
    assert seen["head"][4:] == ["completeness block · zero", "completeness ATT · zero", "completeness MLP · zero"]
    for pos, row in enumerate(seen["rows"]):
        for col, key in enumerate(keys, start=4):
            exact = _worst(payload["completeness"][key][pos])
            assert float(row[col]["title"]) == pytest.approx(exact, abs=1e-12)
            assert row[col]["text"].split(" ")[0] == f"{float(f'{exact:.3g}'):g}"


def test_warning_badge_only_where_the_engine_flagged(unit_page: object) -> None:
    payload = _payload()
    seen = unit_page.evaluate(RENDER_JS, [STATE, payload])
    badges = [(r[0]["text"], col) for r in seen["rows"] for col, c in enumerate(r) if c["badge"]]
    assert badges == [("2", 5)]  # layer 2 (position 1), column att:zero
    assert "layer 2 att:zero" in seen["rows"][1][5]["badge"]
    assert seen["rows"][1][5]["text"].startswith("0.9")


def test_missing_l2_for_the_baselines_is_said_not_drawn_as_zero(unit_page: object) -> None:
    payload = _payload()
    seen = unit_page.evaluate(RENDER_JS, [{**STATE, "layerBaseline": "self_input_token"}, payload])
    assert "No L2 for direct (baseline ITB (self input token)) vs composed (ATT zero × MLP zero)" in seen["caption"]
    assert "available: direct (baseline zero) vs composed (ATT zero × MLP zero)" in seen["caption"]
    assert all(r[c]["text"] == "—" for r in seen["rows"] for c in (1, 2, 3))
    assert seen["head"][4:] == ["completeness ATT · zero", "completeness MLP · zero"]
    assert seen["foot"] == []


def test_sentence_text_in_warnings_stays_inert(unit_page: object) -> None:
    payload = _payload()
    payload["warnings"] = ["layer 0 layer:zero: <img src=x onerror=alert(1)>"]
    seen = unit_page.evaluate(RENDER_JS, [STATE, payload])
    assert "<img" in seen["rows"][0][4]["badge"]
    assert unit_page.evaluate("document.querySelectorAll('img').length") == 0
