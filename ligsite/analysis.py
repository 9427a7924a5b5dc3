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
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ligsite import diskio
from ligsite.analysis_columns import AXES, METRICS, Triple, describe, sentence_columns, word_matrix
from ligsite.analysis_page import page_data, write_page
from ligsite.analysis_store import Store, order_statistics, summary_rows
from ligsite.analysis_tables import (BEST_COLUMNS, COMPLETENESS_COLUMNS, PER_SENTENCE_COLUMNS, SUMMARY_COLUMNS,
                                     Completeness, best_pairs, cell, write_csv)
from ligsite.cache import ExplanationCache, cache_key
from ligsite.config import BuildConfig
from ligsite.errors import ComputeFailed, InputError
from ligsite.samples import Sample

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation

__all__ = ["AXES", "METRICS", "AnalysisReport", "analyze", "best_pairs", "describe", "explanations", "fill_cache",
           "headline_table", "order_statistics", "page_data", "sentence_columns", "summary_rows", "triples",
           "word_matrix", "write_page"]

COMPUTE_CHUNK = 32  # missing samples explained per compute call (each call holds its results)
FILES = ("summary.csv", "per_sentence.csv", "best_pairs.csv", "completeness.csv", "analysis.html")
MARKER = ".ligsite-analysis"  # in an output folder: the FILES there are ligsite's to replace


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
    out = Path(out)
    check_destination(out)
    config = fit_to_model(config)
    if not config.layer_baselines or not config.composed:
        raise InputError(f"analysis compares the direct route with the composed one; model {config.model} "
                         f"with these baselines offers only one of them (set baselines.layer and baselines.composed)")
    computed = fill_cache(samples, config, progress)
    out.mkdir(parents=True, exist_ok=True)
    diskio.replace_atomically(out / MARKER, b"ligsite analyze wrote summary.csv, per_sentence.csv, best_pairs.csv, "
                                            b"completeness.csv and analysis.html here; it replaces only those\n")
    with tempfile.TemporaryDirectory(prefix="ligsite-analyze-") as scratch:
        store = Store(Path(scratch), triples(config))
        completeness = Completeness()
        degenerate = _stream_into(samples, config, store, completeness, out / "per_sentence.csv", progress)
        summary = store.summary(samples)
    best = best_pairs(summary)
    write_csv(out / "summary.csv", SUMMARY_COLUMNS, summary)
    write_csv(out / "best_pairs.csv", BEST_COLUMNS, best)
    write_csv(out / "completeness.csv", COMPLETENESS_COLUMNS, completeness.rows())
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



def check_destination(out: Path) -> None:
    """Before any computing: ``out`` can take the analysis files, and writing them loses nothing.

    A folder that holds one of ``FILES`` without ligsite's ``MARKER`` (so not an earlier
    analysis) is refused: those files are the user's.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder: choose a folder for the analysis")
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    problem = diskio.writable_folder_problem(existing)
    if problem:
        raise InputError(f"cannot write the analysis into {out}: {problem}")
    if out.is_dir() and not (out / MARKER).is_file():
        clash = [name for name in FILES if (out / name).exists()]
        if clash:
            raise InputError(f"{out} holds {', '.join(clash)}, which ligsite did not write (no {MARKER} there): "
                             f"choose another --out, or move them")


def _stream_into(samples: list[Sample], config: BuildConfig, store: Store, completeness: Completeness,
                 path: Path, progress: bool) -> list[str]:
    """Read every explanation once: scratch records, per_sentence.csv rows, completeness counts."""
    degenerate: list[str] = []
    with diskio.replacing(path) as partial, partial.open("w", newline="", encoding="utf-8") as handle, \
            _progress(progress) as bar:
        writer = csv.writer(handle)
        writer.writerow(PER_SENTENCE_COLUMNS)
        task = bar.add_task("analyzing", total=len(samples))
        for index, (sample, exp) in enumerate(explanations(samples, config)):
            undefined = False
            for (axis, triple), columns in sentence_columns(exp, store.triples).items():
                rows = store.add(axis, triple, index, exp.layers, columns)
                writer.writerows([sample.id, *map(cell, row)] for row in rows)
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
