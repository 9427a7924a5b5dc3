"""Ratio baselines, composition and the L2 diagnostic against hand-computed closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from ligsite.lig.ratios import composed, itb_map_ratio, itb_zero_ratio, l2_columns

RNG = np.random.default_rng(0)


def _itb(t: int = 5, lead: tuple[int, ...] = ()) -> np.ndarray:
    c = RNG.normal(size=lead + (t, t))
    c[..., np.arange(t), np.arange(t)] = 0.0  # ITB self scores are exactly 0
    return c


def test_itb_zero_ratio_keeps_the_column_sum_and_takes_the_zero_self_share():
    c, z0 = _itb(), RNG.normal(size=(5, 5))
    out = itb_zero_ratio(c, z0)
    np.testing.assert_allclose(out.sum(0), c.sum(0))
    j = 2
    s_c, s_0 = c[:, j].sum() - c[j, j], z0[:, j].sum() - z0[j, j]
    p = c[:, j].copy()
    p[j] = z0[j, j] * s_c / s_0
    np.testing.assert_allclose(out[:, j], p * c[:, j].sum() / p.sum())
    # the self share of the result equals the zero baseline's self share relative to others
    np.testing.assert_allclose(out[j, j] / (out[:, j].sum() - out[j, j]), z0[j, j] / s_0)


def test_itb_zero_ratio_thresholds_leave_zero_self_and_factor_one():
    c = _itb(3)
    z0 = np.eye(3)  # off-diagonal sums S_0 = 0 -> p_j = 0
    out = itb_zero_ratio(c, z0)
    np.testing.assert_allclose(out, c)  # p = c (self already 0), factor Σc/Σp = 1
    c2 = np.array([[0.0, 1.0], [1.0, 0.0]])
    z2 = np.array([[-1.0, 1.0], [1.0, -1.0]])  # p_j = -1·1/1 = -1, Σp = 0 -> factor 1
    np.testing.assert_allclose(itb_zero_ratio(c2, z2), [[-1.0, 1.0], [1.0, -1.0]])


def test_itb_map_ratio_self_share_is_a_over_one_minus_a():
    c = _itb(4, (2,))  # [H, T, T]
    a = RNG.uniform(0.05, 0.9, size=(2, 4))
    out = itb_map_ratio(c, a)
    np.testing.assert_allclose(out.sum(1), c.sum(1))
    h, j = 1, 3
    s_c = c[h, :, j].sum()
    p = c[h, :, j].copy()
    p[j] = s_c * a[h, j] / (1 - a[h, j])
    np.testing.assert_allclose(out[h, :, j], p * s_c / p.sum())


def test_itb_map_ratio_leaves_a_column_with_a_equal_one_unchanged():
    c = _itb(3, (1,))
    a = np.array([[1.0, 0.5, 1.0 - 1e-9]])
    out = itb_map_ratio(c, a)
    np.testing.assert_array_equal(out[0, :, 0], c[0, :, 0])
    np.testing.assert_array_equal(out[0, :, 2], c[0, :, 2])
    assert not np.allclose(out[0, :, 1], c[0, :, 1])


def test_nan_columns_stay_nan():
    c, z0 = _itb(), RNG.normal(size=(5, 5))
    c[:, 1], z0[:, 1] = np.nan, np.nan
    out = itb_zero_ratio(c, z0)
    assert np.isnan(out[:, 1]).all() and np.isfinite(np.delete(out, 1, axis=1)).all()


def test_composed_is_the_head_sum_of_att_times_mlp():
    att, mlp = RNG.normal(size=(3, 4, 4)), RNG.normal(size=(4, 3))
    expected = np.zeros((4, 4))
    for h in range(3):
        for i in range(4):
            for j in range(4):
                expected[i, j] += att[h, i, j] * mlp[j, h]
    np.testing.assert_allclose(composed(att, mlp), expected)


def test_l2_columns_abs_rel_pearson_and_undefined_values():
    d = np.array([[1.0, 0.0, 1.0], [2.0, 0.0, 1.0], [3.0, 0.0, 1.0]])
    c = np.array([[2.0, 1.0, 1.0], [4.0, 2.0, 1.0], [6.0, 3.0, 1.0]])
    out = l2_columns(d, c)
    np.testing.assert_allclose(out["abs"], [np.sqrt(14), np.sqrt(14), 0.0])
    assert out["rel"][0] == pytest.approx(1.0) and np.isnan(out["rel"][1])
    assert out["pearson"][0] == pytest.approx(1.0)
    assert np.isnan(out["pearson"][1]) and np.isnan(out["pearson"][2])  # constant columns
