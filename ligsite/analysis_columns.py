"""One sentence's numbers for the corpus analysis: the L2 diagnostic per target column.

For one Explanation and a list of baseline triples (direct layer baseline; composed att + mlp
baselines), the direct z→z map is compared with the composed one column by column (absolute L2,
relative L2, Pearson; docs/method.md), on the token axis and on the word axis (both routes summed
to words the same way). ``describe`` and ``quantile`` are the statistics every table shares:
numpy's default (linear) quantiles, reproduced to the last bit. Formulas: docs/analysis.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ligsite.lig.ratios import l2_columns
from ligsite.payload import word_axis

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation

AXES = ("token", "word")
METRICS = ("abs", "rel", "pearson")
QUANTILES = (0.25, 0.5, 0.75)
ALL = -1  # the layer code of a row pooled over all layers ("all" in the CSV files)

Triple = tuple[str, str, str]  # (layer baseline, att baseline, mlp baseline)


def word_matrix(matrix: np.ndarray, word_index: list[int]) -> np.ndarray:
    """``[T, T]`` -> ``[W, W]``: each word's subword rows and columns summed (NaN stays in its word)."""
    starts = np.flatnonzero(np.diff(np.asarray(word_index), prepend=-1))  # first token of each word
    return np.add.reduceat(np.add.reduceat(matrix, starts, axis=0), starts, axis=1)


def sentence_columns(exp: Explanation, wanted: list[Triple]) -> dict[tuple[str, Triple], dict[str, np.ndarray]]:
    """Per (axis, triple): abs, rel and Pearson of every target column, each ``[nL, T or W]``."""
    _, word_index = word_axis(exp.tokens, exp.word_ids)
    direct: dict[tuple[int, str], np.ndarray] = {}
    composed: dict[tuple[int, str, str], np.ndarray] = {}
    out = {}
    for triple in wanted:
        layer_baseline, att, mlp = triple
        per_axis: dict[str, list[dict[str, np.ndarray]]] = {axis: [] for axis in AXES}
        for layer in exp.layers:
            d = direct.setdefault((layer, layer_baseline), exp.z2z(layer, layer_baseline))  # [T_src, T_tgt]
            c = composed.setdefault((layer, att, mlp), exp.composed(layer, att, mlp))  # [T_src, T_tgt]
            per_axis["token"].append(l2_columns(d, c))
            per_axis["word"].append(l2_columns(word_matrix(d, word_index), word_matrix(c, word_index)))
        for axis, columns in per_axis.items():
            out[(axis, triple)] = {m: np.stack([c[m] for c in columns]) for m in METRICS}  # [nL, T]
    return out


def describe(values: np.ndarray) -> list[tuple[int, float, float, float, float]]:
    """Per metric column of ``values`` [rows, M]: (n finite, mean, median, q25, q75) of its finite
    entries, NaN statistics when none; the quantiles are numpy's default (linear) ones."""
    finite = np.isfinite(values)
    n = finite.sum(axis=0)  # [M]
    ordered = np.sort(values, axis=0)  # NaN sorts last, so the first n[k] entries of column k are finite
    out = []
    for k in range(values.shape[1]):
        if not n[k]:
            out.append((0, math.nan, math.nan, math.nan, math.nan))
            continue
        column = ordered[: n[k], k]
        at = dict(enumerate(column.tolist()))
        q25, median, q75 = (quantile(at, q * (int(n[k]) - 1), int(n[k])) for q in QUANTILES)
        out.append((int(n[k]), float(column.mean()), median, q25, q75))
    return out


def quantile(at: dict[int, float], position: float, n: int) -> float:
    """numpy.quantile's linear interpolation, with its expression so results match to the last bit."""
    low, high, t = math.floor(position), min(math.floor(position) + 1, n - 1), position - math.floor(position)
    a, b = at[low], at[high]
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def layer_name(layer: int) -> int | str:
    """A layer as the CSV files write it: the block index, or "all" for the pooled rows."""
    return "all" if layer == ALL else int(layer)
