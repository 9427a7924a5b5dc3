"""Corpus analysis behind ``ligsite analyze``: the paper's Experiment A on any SAMPLES file.

For every sentence, block and baseline triple (direct layer baseline; composed att + mlp
baselines) the direct z→z map is compared with the composed one, target column by target column,
with the L2 diagnostic of docs/method.md (absolute ‖d − c‖₂, relative ‖d − c‖₂/‖d‖₂, Pearson), on
the token axis and on the word axis (both routes summed to words the same way), and the columns
are pooled over the corpus. The CSV columns and formulas: docs/analysis.md.

Reads like the build pipeline: fit the routes to the model, compute what the cache lacks (the
same ``compute`` as ``ligsite compute``, in chunks), then stream the cached explanations one at a
time and write the CSV files. Memory does not grow with the corpus: each column's three numbers
go to a scratch file on disk, and medians and quartiles are exact order statistics found by radix
selection over those files in fixed-size chunks. Undefined numbers (relative L2 when ‖d‖ = 0,
Pearson of a constant column, every Pearson of a one-token sentence) are counted in their own
columns and left out of every mean, median and quartile — never averaged in as zeros.
"""

from __future__ import annotations

import csv
import math
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ligsite.cache import ExplanationCache, cache_key
from ligsite.config import BuildConfig
from ligsite.errors import ComputeFailed, InputError
from ligsite.lig.ratios import l2_columns
from ligsite.payload import word_axis
from ligsite.samples import Sample

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation

AXES = ("token", "word")
METRICS = ("abs", "rel", "pearson")
QUANTILES = (0.25, 0.5, 0.75)
ALL = -1  # the layer code of a row pooled over all layers ("all" in the CSV files)
COLUMN, SENTENCE = 0.0, 1.0  # record kinds in the scratch files
WIDTH = 6  # scratch record: kind, layer, sentence index, abs, rel, pearson (float64 each)
CHUNK_ROWS = 1 << 12  # records read at once from a scratch file: memory is bounded by this
COMPUTE_CHUNK = 32  # missing samples explained per compute call (each call holds its results)
TOP = 3  # best pairs kept per (direct baseline, layer) and criterion
FILES = ("summary.csv", "per_sentence.csv", "best_pairs.csv", "completeness.csv", "analysis.html")
PAGE_TEMPLATE, PAGE_MODULE = "analysis.html.j2", "analysis.js"
VIEWER = "../index.html"  # the viewer, seen from a site's analysis/ folder (``build --analysis``)

Triple = tuple[str, str, str]  # (layer baseline, att baseline, mlp baseline)

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


@dataclass(frozen=True)
class AnalysisReport:
    """What one analysis did; the CLI prints ``headline_table`` of it."""

    samples: int
    computed: int  # explained now (the rest came from the cache)
    seconds: float
    out: Path
    best: tuple[dict[str, Any], ...]  # best_pairs.csv rows of rank 1
    degenerate: tuple[str, ...]  # ids of sentences with no defined token-axis Pearson in some layer
    files: tuple[Path, ...] = field(default_factory=tuple)


def triples(config: BuildConfig) -> list[Triple]:
    """Every (direct baseline, composed att + mlp pair) the config offers, in config order."""
    return [(layer, att, mlp) for layer in config.layer_baselines for att, mlp in config.composed]


def analyze(samples: list[Sample], config: BuildConfig, out: Path, progress: bool = True) -> AnalysisReport:
    """Write summary.csv, per_sentence.csv, best_pairs.csv and completeness.csv into ``out``.

    Missing explanations are computed and cached exactly as ``ligsite compute`` does; cached ones
    are read one at a time (docs/analysis.md).
    """
    from ligsite.precompute import fit_to_model

    started = time.perf_counter()
    config = fit_to_model(config)
    if not config.layer_baselines or not config.composed:
        raise InputError(f"analysis compares the direct route with the composed one; model {config.model} "
                         f"with these baselines offers only one of them (set baselines.layer and baselines.composed)")
    computed = fill_cache(samples, config, progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ligsite-analyze-") as scratch:
        store = _Store(Path(scratch), triples(config))
        completeness = _Completeness()
        degenerate = _stream_into(samples, config, store, completeness, out / "per_sentence.csv", progress)
        summary = store.summary(samples)
    best = best_pairs(summary)
    _write_csv(out / "summary.csv", SUMMARY_COLUMNS, summary)
    _write_csv(out / "best_pairs.csv", BEST_COLUMNS, best)
    _write_csv(out / "completeness.csv", COMPLETENESS_COLUMNS, completeness.rows())
    write_page(out, summary, best, config, len(samples), len(degenerate))
    return AnalysisReport(samples=len(samples), computed=computed, seconds=time.perf_counter() - started,
                          out=out, best=tuple(row for row in best if row["rank"] == 1),
                          degenerate=tuple(degenerate), files=tuple(out / name for name in FILES))


# ---- gather: the cache, filled the way `ligsite compute` fills it ------------------------------

def fill_cache(samples: list[Sample], config: BuildConfig, progress: bool = True) -> int:
    """Explain and cache every sample the cache lacks, ``COMPUTE_CHUNK`` at a time; how many."""
    from ligsite.pipeline import run_compute

    cache, identity = ExplanationCache(config.cache_dir), _identity(config)
    missing = [s for s in samples if cache_key(identity, s.text, config) not in cache]
    computed, failures = 0, []
    for start in range(0, len(missing), COMPUTE_CHUNK):
        report = run_compute(missing[start:start + COMPUTE_CHUNK], config, progress)
        computed += report.computed
        failures.extend(report.failures)
    if failures:
        raise ComputeFailed(f"{len(failures)} of {len(samples)} samples failed ({failures[0]}); "
                            f"fix or remove them and run again (the others are cached)")
    return computed


def explanations(samples: list[Sample], config: BuildConfig) -> Iterator[tuple[Sample, Explanation]]:
    """Each sample's cached Explanation, one at a time (an unreadable entry is recomputed)."""
    from ligsite.pipeline import run_compute

    cache, identity = ExplanationCache(config.cache_dir), _identity(config)
    for sample in samples:
        explanation = cache.get(cache_key(identity, sample.text, config), sample.text)
        if explanation is None:  # damaged since fill_cache (the cache warned): explain it again
            report = run_compute([sample], config, progress=False)
            if report.failures:
                raise ComputeFailed(str(report.failures[0]))
            explanation = report.explanations[sample.id]
        yield sample, explanation


def _identity(config: BuildConfig) -> str:
    from ligsite.precompute import model_identity

    return model_identity(config)


# ---- transform: one sentence's columns ---------------------------------------------------------

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
        q25, median, q75 = (_quantile(at, q * (int(n[k]) - 1), int(n[k])) for q in QUANTILES)
        out.append((int(n[k]), float(column.mean()), median, q25, q75))
    return out


def _stream_into(samples: list[Sample], config: BuildConfig, store: _Store, completeness: _Completeness,
                 path: Path, progress: bool) -> list[str]:
    """Read every explanation once: scratch records, per_sentence.csv rows, completeness counts."""
    degenerate: list[str] = []
    with path.open("w", newline="", encoding="utf-8") as handle, _progress(progress) as bar:
        writer = csv.writer(handle)
        writer.writerow(PER_SENTENCE_COLUMNS)
        task = bar.add_task("analyzing", total=len(samples))
        for index, (sample, exp) in enumerate(explanations(samples, config)):
            undefined = False
            for (axis, triple), columns in sentence_columns(exp, store.triples).items():
                rows = store.add(axis, triple, index, exp.layers, columns)
                writer.writerows([sample.id, *map(_cell, row)] for row in rows)
                undefined |= axis == "token" and any(row[-5] == 0 for row in rows)  # pearson_n
            completeness.add(sample.id, exp)
            if undefined:
                degenerate.append(sample.id)
            bar.advance(task)
    return degenerate


def _progress(enabled: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, disable=not (enabled and console.is_terminal))


# ---- the scratch store: records on disk, exact order statistics in bounded memory -------------

class _Store:
    """One scratch file per (axis, triple) of float64 records ``[kind, layer, sentence, abs, rel, pearson]``."""

    def __init__(self, folder: Path, wanted: list[Triple]) -> None:
        self.triples = wanted
        self.paths = {(axis, t): folder / f"{axis}-{k}.f8" for axis in AXES for k, t in enumerate(wanted)}
        self.layers: dict[int, None] = {}

    def add(self, axis: str, triple: Triple, sentence: int, layers: list[int],
            columns: dict[str, np.ndarray]) -> list[list[Any]]:
        """Append one sentence's columns and per-sentence means; its per_sentence.csv rows."""
        stacked = np.stack([columns[m] for m in METRICS], axis=-1)  # [nL, T, 3]
        records, rows = [], []
        for layer, values in [*zip(layers, stacked), (ALL, stacked.reshape(-1, len(METRICS)))]:
            kept = values[np.isfinite(values[:, 0])]  # a NaN abs: a target that was not computed
            stats = describe(kept)
            if layer != ALL:
                self.layers.setdefault(layer, None)
                records.append(np.column_stack([np.full((len(kept), 3), (COLUMN, layer, sentence)), kept]))
            records.append(np.array([[SENTENCE, layer, sentence, *(s[1] for s in stats)]]))
            rows.append([axis, _layer(layer), *triple, len(kept), *(x for s in stats for x in s)])
        with self.paths[(axis, triple)].open("ab") as handle:
            np.concatenate(records).astype("<f8").tofile(handle)
        return rows

    def summary(self, samples: list[Sample]) -> list[dict[str, Any]]:
        """summary.csv rows: per axis, layer (then all layers) and triple, from the scratch files."""
        per_file = {key: summary_rows(path, *key, sorted(self.layers), samples) for key, path in self.paths.items()}
        groups = len(self.layers) + 1
        return [per_file[(axis, triple)][g] for axis in AXES for g in range(groups) for triple in self.triples]


def _chunks(path: Path) -> Iterator[np.ndarray]:
    """The records of a scratch file, ``CHUNK_ROWS`` at a time, as ``[rows, WIDTH]``."""
    with path.open("rb") as handle:
        while True:
            block = np.fromfile(handle, dtype="<f8", count=CHUNK_ROWS * WIDTH)
            if not block.size:
                return
            yield block.reshape(-1, WIDTH)


def _select(chunk: np.ndarray, kind: float, layer: int) -> np.ndarray:
    """The records of one group: columns of a layer (ALL: of every layer), or per-sentence means."""
    rows = chunk[chunk[:, 0] == kind]
    return rows if kind == COLUMN and layer == ALL else rows[rows[:, 1] == layer]


def _sortable(values: np.ndarray) -> np.ndarray:
    """float64 -> uint64 keys in the same order (flip the sign bit of positives, all bits of negatives)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    negative = (bits >> np.uint64(63)) == 1
    return np.where(negative, ~bits, bits | np.uint64(1 << 63))


def _unsortable(key: int) -> float:
    bits = key ^ (1 << 63) if key >> 63 else ~key & 0xFFFF_FFFF_FFFF_FFFF
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


Group = tuple[float, int, int]  # (record kind, layer or ALL, metric index)


def order_statistics(path: Path, wanted: dict[Group, list[int]]) -> dict[tuple[Group, int], float]:
    """The ``ranks``-th smallest finite values (0-based) of each group's metric, exactly.

    Radix selection on the values' sortable bits, one byte per pass over the file: 8 passes of
    ``CHUNK_ROWS`` records at a time for every group at once, so memory stays fixed however long
    the file is.
    """
    state = {(group, rank): (0, rank) for group, ranks in wanted.items() for rank in ranks}  # (prefix, rank left)
    for shift in range(56, -1, -8):
        counts = {key: np.zeros(256, dtype=np.int64) for key in state}
        for chunk in _chunks(path):
            for group, ranks in wanted.items():
                values = _select(chunk, group[0], group[1])[:, 3 + group[2]]
                keys = _sortable(values[np.isfinite(values)])
                for rank in ranks:
                    prefix = np.uint64(state[(group, rank)][0])
                    picked = keys if shift == 56 else keys[(keys >> np.uint64(shift + 8)) == prefix]
                    digits = ((picked >> np.uint64(shift)) & np.uint64(255)).astype(np.intp)
                    counts[(group, rank)] += np.bincount(digits, minlength=256)
        for key, count in counts.items():
            prefix, left = state[key]
            cumulative = np.cumsum(count)
            digit = int(np.searchsorted(cumulative, left, side="right"))
            state[key] = ((prefix << 8) | digit, left - (int(cumulative[digit - 1]) if digit else 0))
    return {key: _unsortable(prefix) for key, (prefix, _) in state.items()}


def _ranks(n: int) -> tuple[list[float], list[int]]:
    """Positions of ``QUANTILES`` among n sorted values and the ranks they interpolate between."""
    positions = [q * (n - 1) for q in QUANTILES]
    return positions, sorted({r for p in positions for r in (math.floor(p), min(math.floor(p) + 1, n - 1))})


def _quantile(at: dict[int, float], position: float, n: int) -> float:
    """numpy.quantile's linear interpolation, with its expression so results match to the last bit."""
    low, high, t = math.floor(position), min(math.floor(position) + 1, n - 1), position - math.floor(position)
    a, b = at[low], at[high]
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _totals(path: Path, groups: list[tuple[float, int]]) -> dict[tuple[float, int], tuple[int, list[int], list[float]]]:
    """Per (kind, layer) group: records, finite count per metric, sum per metric (one pass)."""
    totals = {g: [0, [0] * len(METRICS), [0.0] * len(METRICS)] for g in groups}
    for chunk in _chunks(path):
        for group in groups:
            rows = _select(chunk, *group)
            entry = totals[group]
            entry[0] += len(rows)
            for k in range(len(METRICS)):
                finite = rows[:, 3 + k][np.isfinite(rows[:, 3 + k])]
                entry[1][k] += finite.size
                entry[2][k] += float(finite.sum())
    return {g: (e[0], e[1], e[2]) for g, e in totals.items()}


def _median_samples(path: Path, medians: dict[int, float], samples: list[Sample]) -> dict[int, str]:
    """Per layer: the first sample (corpus order) whose per-sentence mean Pearson is ``medians[layer]``."""
    found: dict[int, str] = {}
    pearson = 3 + METRICS.index("pearson")
    for chunk in _chunks(path):
        for layer, value in medians.items():
            rows = _select(chunk, SENTENCE, layer)
            hits = rows[rows[:, pearson] == value]
            if layer not in found and len(hits):
                found[layer] = samples[int(hits[0, 2])].id
    return found


def summary_rows(path: Path, axis: str, triple: Triple, layers: list[int], samples: list[Sample]) -> list[dict[str, Any]]:
    """summary.csv rows of one scratch file: one per layer, then all layers pooled."""
    groups = [*layers, ALL]
    totals = _totals(path, [(kind, layer) for kind in (COLUMN, SENTENCE) for layer in groups])
    pearson = METRICS.index("pearson")
    wanted: dict[Group, list[int]] = {}
    for layer in groups:
        for k in range(len(METRICS)):
            if totals[(COLUMN, layer)][1][k]:
                wanted[(COLUMN, layer, k)] = _ranks(totals[(COLUMN, layer)][1][k])[1]
        if totals[(SENTENCE, layer)][1][pearson]:  # the lower median of the per-sentence means
            wanted[(SENTENCE, layer, pearson)] = [(totals[(SENTENCE, layer)][1][pearson] - 1) // 2]
    at = order_statistics(path, wanted)
    medians = {layer: at[((SENTENCE, layer, pearson), ranks[0])]
               for (kind, layer, _), ranks in wanted.items() if kind == SENTENCE}
    examples = _median_samples(path, medians, samples)
    return [_summary_row(axis, layer, triple, totals[(COLUMN, layer)], totals[(SENTENCE, layer)],
                         {k: {r: at[((COLUMN, layer, k), r)] for r in wanted.get((COLUMN, layer, k), [])}
                          for k in range(len(METRICS))}, examples.get(layer, ""))
            for layer in groups]


def _summary_row(axis: str, layer: int, triple: Triple, columns: tuple, sentences: tuple,
                 at: dict[int, dict[int, float]], example: str) -> dict[str, Any]:
    (n_columns, counts, sums), (n_sentences, sentence_counts, sentence_sums) = columns, sentences
    row: dict[str, Any] = dict(zip(KEY_COLUMNS, (axis, _layer(layer), *triple)))
    row |= {"n_sentences": n_sentences, "n_columns": n_columns}
    for k, metric in enumerate(METRICS):
        n = counts[k]
        q25, median, q75 = [_quantile(at[k], p, n) for p in _ranks(n)[0]] if n else [math.nan] * 3
        row |= {f"{metric}_n": n, f"{metric}_undefined": n_columns - n,
                f"{metric}_mean": sums[k] / n if n else math.nan,
                f"{metric}_median": median, f"{metric}_q25": q25, f"{metric}_q75": q75,
                f"{metric}_iqr": q75 - q25,
                f"{metric}_sentence_mean": sentence_sums[k] / sentence_counts[k] if sentence_counts[k] else math.nan,
                f"{metric}_sentences": sentence_counts[k],
                f"{metric}_undefined_sentences": n_sentences - sentence_counts[k]}
    row["median_sample"] = example
    return row


# ---- best pairs and completeness ---------------------------------------------------------------

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


class _Completeness:
    """Per (route, raw baseline, layer) and over all layers: ratios within tolerance, the worst one."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, int], dict[str, Any]] = {}

    def add(self, sample_id: str, exp: Explanation) -> None:
        for key, run in exp.runs.items():
            route, baseline = key.split(":", 1)
            ratios = np.asarray(run.completeness, dtype=np.float64)  # [nL, (H,) T]
            errors = np.abs(ratios - _expected(exp, run))
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
            out.append({"route": route, "baseline": baseline, "layer": _layer(layer), **totals,
                        "share_within": totals["n_within"] / n if n else math.nan,
                        "worst_ratio": totals.get("worst_ratio", math.nan),
                        "worst_error": totals["worst_error"] if n else math.nan,
                        "worst_sample": totals.get("worst_sample", "")})
        return out


def _expected(exp: Explanation, run: Any) -> np.ndarray | float:
    """A perfect ratio: 1, or (n−1)/n per target under trapezoid-captum (docs/method.md)."""
    if exp.quadrature != "trapezoid-captum":
        return 1.0
    n = np.asarray(run.steps, dtype=np.float64)  # [nL, T]
    expected = np.where(n > 0, (n - 1.0) / np.where(n > 0, n, 1.0), np.nan)
    return expected[:, None, :] if np.ndim(run.completeness) == 3 else expected


# ---- write -------------------------------------------------------------------------------------

def _layer(layer: int) -> int | str:
    return "all" if layer == ALL else int(layer)


def _cell(value: Any) -> Any:
    """CSV text: floats at full precision (repr), undefined as an empty cell."""
    if isinstance(value, float):
        return repr(float(value)) if math.isfinite(value) else ""  # float(): numpy scalars print as np.float64(...)
    return value


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([_cell(row[c]) for c in columns] for row in rows)


def page_data(summary: list[dict[str, Any]], best: list[dict[str, Any]], config: BuildConfig,
              viewer: str | None) -> dict[str, Any]:
    """What analysis.html lays out: summary.csv's curves per (axis, triple) and best_pairs.csv's rows,
    each with the viewer link (``viewer`` + state hash) of its median sample; NaN becomes null."""
    number = lambda value: value if isinstance(value, float) and math.isfinite(value) else None  # noqa: E731
    layers = sorted({row["layer"] for row in summary if row["layer"] != "all"})
    series = {}
    for row in summary:
        if row["layer"] == "all":
            continue
        key = tuple(row[c] for c in KEY_COLUMNS if c != "layer")
        entry = series.setdefault(key, {**dict(zip(("axis", "layer_baseline", "att_baseline", "mlp_baseline"), key)),
                                        "points": {m: [] for m in METRICS}})
        for m in METRICS:
            entry["points"][m].append({"layer": row["layer"], "n": row[f"{m}_n"], "mean": number(row[f"{m}_mean"]),
                                       "median": number(row[f"{m}_median"]), "q25": number(row[f"{m}_q25"]),
                                       "q75": number(row[f"{m}_q75"])})
    rows = [{**{k: number(v) if isinstance(v, float) else v for k, v in r.items()}, "href": _viewer_link(viewer, r)}
            for r in best]
    return {"layers": layers, "layer_baselines": list(config.layer_baselines), "metrics": ["pearson", "rel", "abs"],
            "series": list(series.values()), "best": rows}


def _viewer_link(viewer: str | None, row: dict[str, Any]) -> str | None:
    """The viewer state showing ``row``'s layer and pair on its median sample (docs/architecture.md keys)."""
    from urllib.parse import urlencode

    if viewer is None or not row["median_sample"]:
        return None
    state = {"sample": row["median_sample"], "route": "composed", "layerBaseline": row["layer_baseline"],
             "attBaseline": row["att_baseline"], "mlpBaseline": row["mlp_baseline"], "layer": row["layer"],
             "axis": "token", "norm": "raw", "hideSelf": 0}
    return f"{viewer}#{urlencode(state)}"


def write_page(out: Path, summary: list[dict[str, Any]], best: list[dict[str, Any]], config: BuildConfig,
               samples: int, degenerate: int) -> Path:
    """analysis.html in ``out``: one file (D3, the page module and the numbers inlined), so it opens
    from file:// too; its table links into the viewer when ``out`` sits in a site (``out/..`` holds
    the site's marker file)."""
    from importlib.resources import files

    import jinja2

    from ligsite.bundle import bundle_modules, inline_script
    from ligsite.site import MARKER, script_json

    web = files("ligsite.web")
    viewer = VIEWER if (out.parent / MARKER).is_file() else None
    modules = {item.name: item.read_text(encoding="utf-8") for item in web.iterdir() if item.name.endswith(".js")}
    undefined = sum(row["pearson_undefined"] for row in summary if row["axis"] == "token" and row["layer"] == "all")
    context = {
        "page_title": f"Corpus analysis — {config.title}", "title": f"Corpus analysis: {samples} samples",
        "version": ligsite_version(), "viewer": viewer, "top": TOP,
        "provenance": [("model", config.model), ("steps", config.steps), ("quadrature", config.quadrature),
                       ("dtype", config.dtype), ("samples", samples)],
        "undefined_note": f"{undefined} token-axis Pearson columns over all triples, {degenerate} samples with a "
                          f"layer of no defined Pearson",
        "data_json": script_json(page_data(summary, best, config, viewer)),
        "d3_js": inline_script(web.joinpath("vendor/d3.min.js").read_text(encoding="utf-8")),
        "analysis_js": inline_script(bundle_modules(modules, PAGE_MODULE)),
    }
    source = files("ligsite.templates").joinpath(PAGE_TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    path = out / "analysis.html"
    path.write_text(env.from_string(source).render(context), encoding="utf-8")
    return path


def ligsite_version() -> str:
    import ligsite

    return ligsite.__version__


def headline_table(report: AnalysisReport) -> Table:
    """Which composed pair matches the direct map best, per direct baseline and layer (token axis)."""
    table = Table(title=f"ligsite analyze: {report.samples} samples, {report.seconds:.1f} s", title_justify="left")
    for name in ("direct", "layer", "best by Pearson", "mean r", "best by rel L2", "mean rel"):
        table.add_column(name)
    pairs = {(r["layer_baseline"], r["layer"], r["criterion"]): r for r in report.best}
    for layer_baseline, layer in dict.fromkeys((r["layer_baseline"], r["layer"]) for r in report.best):
        cells = [layer_baseline, str(layer)]
        for criterion in ("pearson_mean", "rel_mean"):
            r = pairs.get((layer_baseline, layer, criterion))
            cells += [f"{r['att_baseline']}+{r['mlp_baseline']}", f"{r['value']:.4f}"] if r else ["n/a", ""]
        table.add_row(*cells)
    return table
