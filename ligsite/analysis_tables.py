"""The CSV files of ``ligsite analyze``: their columns, how a cell is written, and the two tables
derived from the statistics: the best composed pairs (a sort of summary.csv) and the completeness
counts (read from each explanation's runs). Column names and units: docs/analysis.md.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from ligsite import diskio
from ligsite.analysis_columns import ALL, METRICS, layer_name
from ligsite.explanation import Explanation, expected_ratio

TOP = 3  # best pairs kept per (direct baseline, layer) and criterion

KEY_COLUMNS = ["axis", "layer", "layer_baseline", "att_baseline", "mlp_baseline"]
SUMMARY_COLUMNS = KEY_COLUMNS + ["n_sentences", "n_columns"] + [
    f"{m}_{s}" for m in METRICS for s in ("n", "undefined", "mean", "median", "q25", "q75", "iqr",
                                          "sentence_mean", "sentences", "undefined_sentences")
] + ["median_sample"]
PER_SENTENCE_COLUMNS = ["sample_id", *KEY_COLUMNS, "n_columns"] + [
    f"{m}_{s}" for m in METRICS for s in ("n", "mean", "median", "q25", "q75")]
BEST_COLUMNS = ["layer_baseline", "layer", "criterion", "rank", "att_baseline", "mlp_baseline", "value",
                "pearson_mean", "rel_mean", "abs_mean", "n_columns", "median_sample"]
COMPLETENESS_COLUMNS = ["route", "baseline", "layer", "n_ratios", "n_undefined", "n_within",
                        "share_within", "tolerance", "worst_ratio", "worst_error", "worst_sample"]


def best_pairs(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per direct baseline and layer (token axis): top pairs by mean Pearson (high first) and by
    mean relative L2 (low first); ties keep config order; undefined means are never ranked."""
    out = []
    token = [row for row in summary if row["axis"] == "token"]
    groups = dict.fromkeys((row["layer_baseline"], row["layer"]) for row in token)
    for layer_baseline, layer in groups:
        rows = [r for r in token if r["layer_baseline"] == layer_baseline and r["layer"] == layer]
        for criterion, sign in (("pearson_mean", -1.0), ("rel_mean", 1.0)):
            ranked = sorted((r for r in rows if math.isfinite(r[criterion])), key=lambda r: sign * r[criterion])
            for rank, r in enumerate(ranked[:TOP], start=1):
                out.append({"layer_baseline": layer_baseline, "layer": layer, "criterion": criterion, "rank": rank,
                            "att_baseline": r["att_baseline"], "mlp_baseline": r["mlp_baseline"],
                            "value": r[criterion], **{k: r[k] for k in BEST_COLUMNS[7:]}})
    return out


class Completeness:
    """Per (route, raw baseline, layer) and over all layers: ratios within tolerance, the worst one."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, int], dict[str, Any]] = {}

    def add(self, sample_id: str, exp: Explanation) -> None:
        for key, run in exp.runs.items():
            route, baseline = key.split(":", 1)
            ratios = np.asarray(run.completeness, dtype=np.float64)  # [nL, (H,) T]
            errors = np.abs(ratios - expected_ratio(exp.quadrature, run))
            for index, layer in enumerate(exp.layers):
                for group in ((route, baseline, layer), (route, baseline, ALL)):
                    self._count(group, sample_id, ratios[index], errors[index], exp.tolerance)

    def _count(self, group: tuple[str, str, int], sample_id: str, ratios: np.ndarray, errors: np.ndarray,
               tolerance: float) -> None:
        totals = self.groups.setdefault(group, {"n_ratios": 0, "n_undefined": 0, "n_within": 0,
                                                "tolerance": tolerance, "worst_error": -1.0})
        defined = np.isfinite(errors)
        totals["n_ratios"] += int(defined.sum())
        totals["n_undefined"] += int((~defined).sum())
        totals["n_within"] += int((errors[defined] <= tolerance).sum())
        totals["tolerance"] = max(totals["tolerance"], tolerance)
        if defined.any() and np.nanmax(errors) > totals["worst_error"]:
            flat = int(np.nanargmax(errors))
            totals |= {"worst_error": float(errors.flat[flat]), "worst_ratio": float(ratios.flat[flat]),
                       "worst_sample": sample_id}

    def rows(self) -> list[dict[str, Any]]:
        ordered = sorted(self.groups, key=lambda g: (g[0], g[1], g[2] == ALL, g[2]))
        out = []
        for route, baseline, layer in ordered:
            totals = self.groups[(route, baseline, layer)]
            n = totals["n_ratios"]
            out.append({"route": route, "baseline": baseline, "layer": layer_name(layer), **totals,
                        "share_within": totals["n_within"] / n if n else math.nan,
                        "worst_ratio": totals.get("worst_ratio", math.nan),
                        "worst_error": totals["worst_error"] if n else math.nan,
                        "worst_sample": totals.get("worst_sample", "")})
        return out


def cell(value: Any) -> Any:
    """CSV text: floats at full precision (repr), undefined as an empty cell."""
    if isinstance(value, float):
        return repr(float(value)) if math.isfinite(value) else ""  # float(): numpy scalars print as np.float64(...)
    return value


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """One CSV file, written completely or not at all."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(columns)
    writer.writerows([cell(row[c]) for c in columns] for row in rows)
    diskio.replace_atomically(path, text.getvalue().encode("utf-8"))
