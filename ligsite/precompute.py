"""Run the engine over every sample that is not cached yet, saving each one as soon as it is done.

One ``explain`` call per sample computes every raw run the site shows (ratio variants are
post-processing inside the Explanation), and the model is loaded once for all samples. Each
finished sample goes straight into the cache, so an interrupt loses only the sample in flight.
A sample the engine rejects (e.g. longer than the model's positions) is reported by id and
reason; the others still finish and stay cached, and the caller exits non-zero at the end.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ligsite.cache import ExplanationCache, cache_key
from ligsite.config import LAYER_BASELINES, BuildConfig
from ligsite.errors import CacheError, InputError, NumericalError
from ligsite.samples import Sample

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation, Run


@dataclass(frozen=True)
class Failure:
    """A sample the engine rejected, with the engine's reason."""

    sample: Sample
    reason: str

    def __str__(self) -> str:
        return f"sample {self.sample.id} (line {self.sample.line}): {self.reason}"


@dataclass(frozen=True)
class ComputeReport:
    """What one compute run did; the CLI prints it as a table."""

    samples: int
    computed: int
    cache_hits: int
    tokens: int
    seconds: float
    worst_completeness: float | None  # max |ratio − 1| (trapezoid: − (n−1)/n) over all samples, runs, layers, targets
    worst_where: str  # which sample and run it was
    failures: tuple[Failure, ...] = field(default_factory=tuple)
    quadrature: str = "gauss-legendre"  # what worst_completeness was measured against
    # samples computed but not stored (full or read-only cache) and the first reason why; they
    # are in ``explanations`` all the same, so a build still renders them
    uncached: tuple[str, ...] = ()
    cache_problem: str = ""
    # every sample's Explanation by id (cached or new), so build renders without reading them back
    explanations: dict[str, Explanation] = field(default_factory=dict, repr=False, compare=False)


def granularity(config: BuildConfig) -> tuple[str, ...]:
    """The routes ``explain`` must run: att and mlp for composed maps, layer for direct ones."""
    routes = ("att", "mlp") if config.composed else ()
    return routes + (("layer",) if config.layer_baselines else ())


def fit_to_model(config: BuildConfig) -> BuildConfig:
    """``config`` without composed maps when the model's family is block-only (layer route only).

    Reads the model's config alone (no weights), so render can call it too.
    """
    from ligsite.models.loading import load_config
    from ligsite.models.registry import adapter_class

    offered = adapter_class(load_config(config.model).model_type).granularities
    if config.composed and not {"att", "mlp"} <= set(offered):
        if not config.layer_baselines:
            raise InputError(
                f"model {config.model} offers only the direct (layer) route; set baselines.layer "
                f"in ligsite.toml (valid: {', '.join(LAYER_BASELINES)})"
            )
        return replace(config, composed=())
    return config


def model_identity(config: BuildConfig) -> str:
    """The cache's name for the configured model's weights (no weights are loaded)."""
    from ligsite.models.loading import model_identity as identity

    return identity(config.model)


def compute(samples: list[Sample], config: BuildConfig, progress: bool = True) -> ComputeReport:
    """Explain every uncached sample under ``config``, caching each result as it finishes."""
    started = time.perf_counter()
    cache = ExplanationCache(config.cache_dir)
    cache.check()  # a file given as the cache folder: one line now, before the model loads
    identity = model_identity(config)
    keys = {sample.id: cache_key(identity, sample.text, config) for sample in samples}
    explanations: dict[str, Explanation] = {}
    for sample in samples:
        cached = cache.get(keys[sample.id], sample.text)
        if cached is not None:
            explanations[sample.id] = cached
    todo = [sample for sample in samples if sample.id not in explanations]
    failures: list[Failure] = []
    uncached: list[str] = []
    problem = ""
    for sample, outcome in _explain_all(todo, config, progress):
        if isinstance(outcome, Failure):
            failures.append(outcome)
            continue
        explanations[sample.id] = outcome  # kept in memory whatever the cache does
        try:
            cache.put(keys[sample.id], outcome)  # saved at once: an interrupt loses nothing finished
        except CacheError as error:  # full or read-only disk: the build still has the sample
            uncached.append(sample.id)
            problem = problem or str(error)
    worst, where = worst_completeness(explanations)
    return ComputeReport(
        samples=len(samples),
        computed=len(todo) - len(failures),
        cache_hits=len(samples) - len(todo),
        tokens=sum(len(explanation.tokens) for explanation in explanations.values()),
        seconds=time.perf_counter() - started,
        worst_completeness=worst,
        worst_where=where,
        failures=tuple(failures),
        quadrature=config.quadrature,
        uncached=tuple(uncached),
        cache_problem=problem,
        explanations={s.id: explanations[s.id] for s in samples if s.id in explanations},
    )


def _explain_all(todo: list[Sample], config: BuildConfig, progress: bool) -> Iterator[tuple[Sample, Explanation | Failure]]:
    """Each sample's Explanation (or Failure) as soon as it is done, under one progress bar."""
    if not todo:
        return
    engine = _Engine(config)
    with _progress_bar(progress) as bar:
        task = bar.add_task("explaining", total=len(todo))
        for sample in todo:
            bar.update(task, description=f"explaining {sample.id}")
            outcome: Explanation | Failure
            try:
                outcome = engine.explain(sample.text)
            except (InputError, NumericalError) as error:
                outcome = Failure(sample, str(error))
            yield sample, outcome  # the caller caches it before the bar moves on
            bar.advance(task)
        bar.update(task, description="explained")


def cached(samples: list[Sample], config: BuildConfig) -> list[Explanation]:
    """Every sample's Explanation from the cache, in order; a missing one is a CacheError."""
    cache = ExplanationCache(config.cache_dir)
    cache.check()
    identity = model_identity(config)
    out = []
    for sample in samples:
        explanation = cache.get(cache_key(identity, sample.text, config), sample.text)
        if explanation is None:
            raise CacheError(
                f"sample {sample.id} (line {sample.line}) is not in the cache {config.cache_dir} for "
                f"these options; run `ligsite compute` with the same SAMPLES and options first"
            )
        out.append(explanation)
    return out


class _Engine:
    """``explain`` with the model loaded once (an adapter, not a name) and every option bound."""

    def __init__(self, config: BuildConfig) -> None:
        from ligsite.api import CompletenessWarning, explain
        from ligsite.models.loading import load

        self._explain = explain
        self._warning = CompletenessWarning
        self._config = config
        self._adapter = load(config.model, config.device, config.dtype)
        n_layers = self._adapter.n_layers
        if config.layers is not None and max(config.layers) >= n_layers:
            # the same for every sample: one line now, not one failure per sample
            raise InputError(
                f"layers {list(config.layers)}: {config.model} has blocks 0..{n_layers - 1}; "
                f"pick --layers (or layers in ligsite.toml) from those"
            )

    def explain(self, text: str) -> Explanation:
        config, wanted = self._config, granularity(self._config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self._warning)  # kept in the Explanation and the report
            return self._explain(
                text,
                model=self._adapter,
                steps=config.steps,
                granularity=wanted,
                baselines={g: names for g, names in config.baselines.items() if g in wanted},
                layers=list(config.layers) if config.layers is not None else None,
                quadrature=config.quadrature,
                device=config.device,
                dtype=config.dtype,
            )


def worst_completeness(explanations: dict[str, Explanation]) -> tuple[float | None, str]:
    """The largest |ratio − target| over all explanations, and where: "<id> <run> layer l target j".

    The target is 1, except for ``trapezoid-captum`` whose weights sum to (n−1)/n, so its ratios
    are measured against (n−1)/n for the n each target used (METHOD.md: that shortfall is built in).
    """
    worst: float | None = None
    where = ""
    for sample_id, explanation in explanations.items():
        for run_key, run in explanation.runs.items():
            errors = np.abs(np.asarray(run.completeness, dtype=np.float64) - _expected(explanation, run))
            if not np.isfinite(errors).any():
                continue
            flat = int(np.nanargmax(errors))
            if worst is None or errors.flat[flat] > worst:
                index = np.unravel_index(flat, errors.shape)
                head = f" head {index[1]}" if errors.ndim == 3 else ""
                worst = float(errors.flat[flat])
                where = f"{sample_id} {run_key} layer {explanation.layers[index[0]]}{head} target {index[-1]}"
    return worst, where


def _expected(explanation: Explanation, run: Run) -> np.ndarray | float:
    """What a perfect ratio is under the explanation's rule: 1, or (n−1)/n per target [nL, (1,) T]."""
    if explanation.quadrature != "trapezoid-captum":
        return 1.0
    n = np.asarray(run.steps, dtype=np.float64)  # [nL, T]; 0 where not computed
    expected = np.where(n > 0, (n - 1.0) / np.where(n > 0, n, 1.0), np.nan)
    return expected[:, None, :] if np.ndim(run.completeness) == 3 else expected


def _progress_bar(enabled: bool) -> Progress:
    """Samples done and ETA on a terminal; silent unless stdout and stderr both are one (CI logs, pipes)."""
    console = Console(stderr=True)
    enabled = enabled and sys.stdout.isatty()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
        transient=False,
    )
