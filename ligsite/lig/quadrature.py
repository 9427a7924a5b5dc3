"""Quadrature rules on [0, 1]: pure functions returning (nodes, weights), one dispatcher.

An IG integral ``∫_0^1 g(α) dα`` is approximated by ``Σ_k w_k g(α_k)``. Rules:

- ``gauss-legendre``: n Gauss–Legendre nodes on [0, 1]; weights sum to 1; no node at α = 0,
  where the norm ``‖f(x(α)) − f(x')‖`` has its kink.
- ``gauss-legendre-graded``: α = t^p on Gauss–Legendre t with weights ``p t^(p−1) w``: the
  substitution crowds nodes toward α = 0, where zero-baseline paths change fastest (LayerNorm
  of tiny inputs). Exact for the same integrals in the limit; its measured benefit on MiniLM
  is in docs/explanation-format.md.
- On the zero-baseline paths of pre-norm blocks (att and layer routes) ``gauss-legendre``
  places its nodes where the integrand lives (``log_placed``): the norm is scale invariant
  above ``α*_i = sqrt(eps / ms(z_i))`` (METHOD.md), so n − n/8 nodes are Gauss–Legendre in
  ``log α`` over [α_min, 1] and n/8 in α over [0, α_min], with α_min = 10⁻³ · min_i α*_i
  (below α_min the rows are ≈ αz/√eps: linear, integrated exactly by the few nodes there).
- ``trapezoid-captum``: captum's rule, kept only to compare with the original package:
  nodes ``linspace(0, 1, n)``, weights ``1/(2n)`` at both ends and ``1/n`` inside (they sum
  to (n−1)/n, so completeness sits near (n−1)/n by construction).
"""

from __future__ import annotations

import numpy as np

from ligsite.errors import InputError

GRADING_POWER = 2
QUADRATURES = ("gauss-legendre", "gauss-legendre-graded", "trapezoid-captum")


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n Gauss–Legendre nodes and weights mapped from [-1, 1] to [0, 1] (weights sum to 1)."""
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1.0) / 2.0, w / 2.0


def gauss_legendre_graded(n: int, power: int = GRADING_POWER) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre after the substitution α = t^power (nodes crowd toward α = 0)."""
    t, w = gauss_legendre(n)
    return t**power, power * t ** (power - 1) * w


def trapezoid_captum(n: int) -> tuple[np.ndarray, np.ndarray]:
    """captum's trapezoid: linspace(0, 1, n), weights 1/(2n) at the ends, 1/n inside."""
    if n < 2:
        raise InputError(f"trapezoid-captum needs at least 2 steps, got {n}")
    weights = np.full(n, 1.0 / n)
    weights[[0, -1]] = 1.0 / (2 * n)
    return np.linspace(0.0, 1.0, n), weights


LOG_FLOOR = 1e-3  # α_min = LOG_FLOOR · min_i α*_i


def log_placed(n: int, alpha_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre in log α over [α_min, 1] (n − n/8 nodes) and in α over [0, α_min] (n/8).

    Weights sum to 1 (the two pieces are exact for constants); nodes ascend.
    """
    if not 0.0 < alpha_min < 1.0:
        raise InputError(f"alpha_min must lie in (0, 1), got {alpha_min!r}")
    low = max(1, n // 8)
    t, w = gauss_legendre(low)
    lin_nodes, lin_weights = t * alpha_min, w * alpha_min
    span = -np.log(alpha_min)
    u, v = gauss_legendre(n - low) if n > low else (np.zeros(0), np.zeros(0))
    log_nodes = np.exp(np.log(alpha_min) + u * span)  # α = α_min^(1-u)
    log_weights = v * span * log_nodes  # dα = α d(log α)
    return np.concatenate((lin_nodes, log_nodes)), np.concatenate((lin_weights, log_weights))


def rule(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of quadrature ``name`` with ``n`` nodes, both float64 arrays [n]."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise InputError(f"steps must be a positive integer or 'auto', got {n!r}")
    if name == "gauss-legendre":
        return gauss_legendre(int(n))
    if name == "gauss-legendre-graded":
        return gauss_legendre_graded(int(n))
    if name == "trapezoid-captum":
        return trapezoid_captum(int(n))
    raise InputError(f"unknown quadrature {name!r}; valid: {', '.join(QUADRATURES)}")
