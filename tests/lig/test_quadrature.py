"""Quadrature rules: the exact nodes and weights each rule promises."""

from __future__ import annotations

import numpy as np
import pytest

from ligsite.errors import InputError
from ligsite.lig.quadrature import QUADRATURES, gauss_legendre, gauss_legendre_graded, rule, trapezoid_captum


def test_gauss_legendre_weights_sum_to_one_and_nodes_avoid_the_ends():
    nodes, weights = gauss_legendre(32)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert 0.0 < nodes.min() < nodes.max() < 1.0


def test_gauss_legendre_is_exact_for_polynomials_of_degree_2n_minus_1():
    nodes, weights = gauss_legendre(4)
    for degree in range(8):  # ∫_0^1 α^k dα = 1/(k+1)
        assert (weights * nodes**degree).sum() == pytest.approx(1.0 / (degree + 1), rel=1e-13)


def test_graded_rule_is_the_substitution_alpha_t_squared():
    t, w = gauss_legendre(16)
    nodes, weights = gauss_legendre_graded(16, power=2)
    np.testing.assert_allclose(nodes, t**2)
    np.testing.assert_allclose(weights, 2 * t * w)
    assert weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert (weights * np.sqrt(nodes)).sum() == pytest.approx(2.0 / 3.0, rel=1e-12)  # ∫√α = 2/3


def test_trapezoid_captum_nodes_and_weights_are_as_specified():
    nodes, weights = trapezoid_captum(5)
    np.testing.assert_array_equal(nodes, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(weights, [0.1, 0.2, 0.2, 0.2, 0.1])
    assert weights.sum() == pytest.approx(4 / 5)


@pytest.mark.parametrize("name", QUADRATURES)
def test_dispatcher_returns_n_nodes_per_rule(name):
    nodes, weights = rule(name, 8)
    assert nodes.shape == weights.shape == (8,)


def test_dispatcher_rejects_unknown_rule_and_bad_steps():
    with pytest.raises(InputError, match="unknown quadrature 'simpson'.*gauss-legendre"):
        rule("simpson", 8)
    with pytest.raises(InputError, match="positive integer"):
        rule("gauss-legendre", 0)
    with pytest.raises(InputError, match="at least 2 steps"):
        rule("trapezoid-captum", 1)
