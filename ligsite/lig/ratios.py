"""Post-processing of raw runs (numpy only): ratio baselines, composition, the L2 diagnostic.

Every matrix is ``[..., T_src, T_tgt]``: column j is what target j receives, its self score sits
at ``[j, j]``. Columns of targets not computed are NaN and stay NaN.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-8  # METHOD.md's threshold for "zero" denominators


def itb_zero_ratio(itb: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """ITB with the self score given the zero baseline's self share; column sums stay ITB's.

    ``S_c = Σ_{k≠j} c_k``, ``S_0 = Σ_{k≠j} z0_k``; ``p_j = z0_j S_c / S_0`` (0 if |S_0| ≤ 1e-8).
    """
    self_c, self_0 = _diagonal(itb), _diagonal(zero)  # [..., T]
    s_c, s_0 = itb.sum(-2) - self_c, zero.sum(-2) - self_0
    usable = np.abs(s_0) > EPS
    new_self = np.where(usable, self_0 * s_c / np.where(usable, s_0, 1.0), 0.0)
    return _rescale(itb, new_self)


def itb_map_ratio(itb: np.ndarray, self_probs: np.ndarray) -> np.ndarray:
    """ITB with the self score ``S_c a / (1 − a)``, ``a`` = attention prob j -> j of the head.

    ``itb`` [H, T, T], ``self_probs`` [H, T] (real input). Columns with |1 − a| ≤ 1e-8 are
    left unchanged.
    """
    a = self_probs
    s_c = itb.sum(-2) - _diagonal(itb)  # [H, T]
    keep = np.abs(1.0 - a) <= EPS
    new_self = s_c * a / np.where(keep, 1.0, 1.0 - a)
    return np.where(keep[..., None, :], itb, _rescale(itb, new_self))


def composed(att: np.ndarray, mlp: np.ndarray) -> np.ndarray:
    """``C[i, j] = Σ_h ATT[h, i, j] · MLP[j, h]``: att [H, T, T], mlp [T, H] -> [T, T]."""
    return np.einsum("hij,jh->ij", att, mlp)


def l2_columns(direct: np.ndarray, route: np.ndarray) -> dict[str, np.ndarray]:
    """Per target column: abs ``‖d − c‖``, rel ``‖d − c‖/‖d‖``, Pearson (undefined -> NaN)."""
    diff = np.linalg.norm(direct - route, axis=0)  # [T]
    norm_d = np.linalg.norm(direct, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(norm_d > 0, diff / np.where(norm_d > 0, norm_d, 1.0), np.nan)
        dc, cc = direct - direct.mean(0), route - route.mean(0)
        spread = np.linalg.norm(dc, axis=0) * np.linalg.norm(cc, axis=0)
        pearson = np.where(spread > 0, (dc * cc).sum(0) / np.where(spread > 0, spread, 1.0), np.nan)
    return {"abs": diff, "rel": rel, "pearson": np.clip(pearson, -1.0, 1.0)}


def _diagonal(m: np.ndarray) -> np.ndarray:
    """The self scores ``m[..., j, j]`` as ``[..., T]``."""
    return np.diagonal(m, axis1=-2, axis2=-1)


def _rescale(c: np.ndarray, new_self: np.ndarray) -> np.ndarray:
    """Replace the diagonal by ``new_self``, then rescale each column to ITB's column sum."""
    t = c.shape[-1]
    p = np.array(c, dtype=np.float64, copy=True)
    p[..., np.arange(t), np.arange(t)] = new_self
    total_c, total_p = c.sum(-2), p.sum(-2)
    usable = np.abs(total_p) > EPS
    factor = np.where(usable, total_c / np.where(usable, total_p, 1.0), 1.0)
    factor[np.isnan(total_c)] = np.nan  # a target not computed stays a NaN column
    return p * factor[..., None, :]
