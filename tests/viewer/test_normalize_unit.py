"""web/normalize.js in Chromium: shares against a numpy reference, self handling, legends."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import F32, f32, js_nan, unit_page, unit_server  # noqa: E402,F401

pytestmark = pytest.mark.slow
N = 7


def _normalize(page: object, m: np.ndarray, norm: str, hide_self: bool) -> np.ndarray:
    """Run normalizeLayer on a [source, target] matrix; NaN comes back as None -> nan."""
    out = page.evaluate(
        "async ([xs, n, norm, hide]) => {" + F32
        + "const m = await import('/web/normalize.js');"
        + "return Array.from(m.normalizeLayer(F32(xs), n, norm, hide), (v) => (Number.isNaN(v) ? null : v)); }",
        [js_nan(f32(m)), m.shape[0], norm, hide_self],
    )
    return np.array([np.nan if v is None else v for v in out], dtype=np.float64).reshape(m.shape)


def _matrix() -> np.ndarray:
    rng = np.random.default_rng(3)
    m = rng.normal(size=(N, N)).astype(np.float32)  # [source, target]
    m[:, 2] = 0.0           # a target with nothing to attribute
    m[:, 4] = np.nan        # a target that was not computed
    return m


def test_share_columns_sum_to_one_in_abs_and_match_numpy(unit_page: object) -> None:
    m = _matrix()
    got = _normalize(unit_page, m, "share", False)
    with np.errstate(invalid="ignore"):
        ref = m.astype(np.float64) / np.abs(m.astype(np.float64)).sum(axis=0, keepdims=True)
    ok = [j for j in range(N) if j not in (2, 4)]
    np.testing.assert_allclose(np.abs(got[:, ok]).sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(got[:, ok], ref[:, ok], rtol=1e-5, atol=1e-7)
    assert np.isnan(got[:, 2]).all() and np.isnan(got[:, 4]).all()
    assert np.sign(got[:, ok]).tolist() == np.sign(m[:, ok]).tolist()


def test_share_noself_hides_self_and_sums_others_to_one(unit_page: object) -> None:
    m = _matrix()
    got = _normalize(unit_page, m, "share-noself", False)
    assert np.isnan(np.diag(got)).all()
    off = ~np.eye(N, dtype=bool)
    for j in (0, 1, 3, 5, 6):
        col = got[off[:, j], j]
        assert abs(np.abs(col).sum() - 1.0) < 1e-6
        ref = m[off[:, j], j] / np.abs(m[off[:, j], j].astype(np.float64)).sum()
        np.testing.assert_allclose(col, ref, rtol=1e-5)


def test_raw_with_hide_self_blanks_only_the_diagonal(unit_page: object) -> None:
    m = _matrix()
    got = _normalize(unit_page, m, "raw", True)
    assert np.isnan(np.diag(got)).all()
    off = ~np.eye(N, dtype=bool) & ~np.isnan(m)
    np.testing.assert_array_equal(got[off], m[off].astype(np.float64))


def test_raw_without_hide_self_is_identity(unit_page: object) -> None:
    m = _matrix()
    got = _normalize(unit_page, m, "raw", False)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(m))
    np.testing.assert_array_equal(got[~np.isnan(m)], m[~np.isnan(m)].astype(np.float64))


def test_legend_states_the_normalization_and_self_hiding(unit_page: object) -> None:
    legends = unit_page.evaluate(
        "async () => { const m = await import('/web/normalize.js');"
        "return [m.normLegend('raw'), m.normLegend('share'), m.normLegend('share-noself'),"
        " m.normLegend('raw', 1), m.normalizeLayers([new Float32Array(4)], 2, 'share', 0).legend]; }")
    raw, share, noself, raw_hidden, via_layers = legends
    assert len(set(legends[:4])) == 4
    assert raw.startswith("raw") and "share" in share and "self excluded" in noself
    assert "self cells hidden" in raw_hidden and "self cells hidden" in noself
    assert "self cells hidden" not in share and via_layers == share


def test_unknown_normalization_names_the_valid_choices(unit_page: object) -> None:
    message = unit_page.evaluate(
        "async () => { const m = await import('/web/normalize.js');"
        "try { m.normalizeLayer(new Float32Array(4), 2, 'softmax'); return null; }"
        " catch (e) { return e.message; } }")
    assert message is not None and "softmax" in message
    assert all(choice in message for choice in ("raw", "share", "share-noself"))
