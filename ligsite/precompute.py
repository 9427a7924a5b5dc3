"""Run the engine over every sample that is not cached yet, saving each one as soon as it is done.

The missing samples go to the engine a batch at a time (``executors.per_call``: ``batch_size``
samples, whose sentences share IG calls where the family allows it, ``api.explain_many``); one
call computes every raw run the site shows for each of its samples (ratio variants are
post-processing inside the Explanation), and the model is loaded once per process. Each
finished sample goes straight into the cache, so an interrupt loses only the batches in flight.
A sample the engine rejects (e.g. longer than the model's positions) is reported by id and
reason; the others still finish and stay cached, and the caller exits non-zero at the end.

Where the samples run is ``ligsite.executors``' business (this process, N local workers, or
Ray); ``--shard i/n`` keeps the samples whose cache key falls in shard i, so n machines fill one
cache between them. Keys are formed without torch (``ligsite.models.identity``), so a fully
cached run never imports it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ligsite.cache import ExplanationCache, key_fields, key_of
from ligsite.config import BuildConfig
from ligsite.errors import CacheError, InputError
from ligsite.executors import Failure, Stored, granularity, local_pool, ray_batches, serial, visible_gpus, worker_count
from ligsite.explanation import Explanation, expected_ratio
from ligsite.keys import fit_to_model, model_identity, offered_granularities
from ligsite.samples import Sample


__all__ = ["ComputeReport", "Failure", "Shard", "cached", "compute", "fit_to_model", "granularity", "model_identity"]


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
    # every sample's Explanation by id (cached or new), so build renders without reading them
    # back; empty when compute ran with keep=False (``ligsite compute``: memory flat in samples)
    explanations: dict[str, Explanation] = field(default_factory=dict, repr=False, compare=False)
    shard: str = ""  # "i/n" when only a shard of the samples was run


@dataclass(frozen=True)
class Shard:
    """``--shard i/n``: the samples whose cache key is i − 1 modulo n (stable across runs and machines)."""

    index: int  # 1..count
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            index = count = 0
        if not 1 <= index <= count:
            raise InputError(f"--shard expects i/n with 1 <= i <= n, such as 1/4; got {text!r}")
        return cls(index, count)

    def holds(self, key: str) -> bool:
        return int(key, 16) % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def compute(samples: list[Sample], config: BuildConfig, progress: bool = True, shard: Shard | None = None,
            keep: bool = True) -> ComputeReport:
    """Explain every uncached sample under ``config`` (of ``shard`` only, if given), caching each.

    ``keep=False`` keeps no Explanation in memory (the report's ``explanations`` stays empty).
    """
    started = time.perf_counter()
    cache = ExplanationCache(config.cache_dir)
    cache.check()  # a file given as the cache folder: one line now, before the model loads
    try:
        cache.root.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # read-only: every put says so, and the build keeps the samples in memory
    fields = key_fields(model_identity(config), config)
    offered_granularities(config)  # remembered now that the cache exists: the next run needs no torch
    keys = {sample.id: key_of(fields, sample.text) for sample in samples}
    if shard is not None:
        samples = [sample for sample in samples if shard.holds(keys[sample.id])]
    tally = _Tally(keep, cache, fields)
    todo = []
    for sample in samples:
        explanation = cache.get(keys[sample.id], sample.text)
        if explanation is None:
            todo.append(sample)
        else:
            tally.add(sample, explanation)
    with _progress_bar(progress and bool(todo)) as bar:
        task = bar.add_task("explaining", total=len(todo))
        for sample, outcome in _outcomes(todo, config, keys, fields):
            bar.advance(task)
            tally.take(sample, keys[sample.id], outcome)
    return ComputeReport(
        samples=len(samples),
        computed=len(todo) - len(tally.failures),
        cache_hits=len(samples) - len(todo),
        tokens=tally.tokens,
        seconds=time.perf_counter() - started,
        worst_completeness=tally.worst,
        worst_where=tally.where,
        failures=tuple(tally.failures),
        quadrature=config.quadrature,
        uncached=tuple(tally.uncached),
        cache_problem=tally.problem,
        explanations={s.id: tally.explanations[s.id] for s in samples if s.id in tally.explanations},
        shard=str(shard or ""),
    )


def _outcomes(todo: list[Sample], config: BuildConfig, keys: dict[str, str], fields: dict) -> Iterator[tuple[Sample, object]]:
    """Each todo sample's outcome as it finishes, from the configured executor."""
    if not todo:
        return iter(())
    if config.executor == "ray":
        return ray_batches(todo, config, keys, fields, config.address)
    gpus = visible_gpus() if config.device != "cpu" else 0
    workers = min(worker_count(config.workers, gpus), len(todo))
    if workers <= 1:
        return serial(todo, config, gpus)
    return local_pool(todo, config, workers, gpus)


def _read_back(cache: ExplanationCache, key: str, sample: Sample) -> Explanation:
    """An entry a remote task wrote, for the render; its absence means the folder is not shared."""
    explanation = cache.get(key, sample.text)
    if explanation is None:
        raise CacheError(f"a Ray worker stored sample {sample.id} in {cache.root}, but this machine cannot read "
                         f"it there; give a --cache-dir on a filesystem every node and this one share")
    return explanation


class _Tally:
    """What the report needs, gathered as samples arrive; each new one is stored as it comes.

    Keeps tokens, the worst completeness, failures, samples the cache refused and (``keep``)
    every Explanation.
    """

    def __init__(self, keep: bool, cache: ExplanationCache, fields: dict) -> None:
        self.keep, self.cache, self.fields = keep, cache, fields
        self.tokens, self.worst, self.where = 0, None, ""
        self.explanations: dict[str, Explanation] = {}
        self.failures: list[Failure] = []
        self.uncached: list[str] = []
        self.problem = ""

    def take(self, sample: Sample, key: str, outcome: object) -> None:
        """One executor outcome: a Failure, a Stored summary (a Ray task cached it) or an Explanation."""
        if isinstance(outcome, Failure):
            self.failures.append(outcome)
        elif isinstance(outcome, Stored):
            self.add_stored(outcome, _read_back(self.cache, key, sample) if self.keep else None)
        else:
            self.add(sample, outcome)  # kept in memory (keep=True) whatever the cache does
            try:
                self.cache.put(key, outcome, self.fields)  # saved at once: an interrupt loses nothing finished
            except CacheError as error:  # full or read-only disk: the build still has the sample
                self.uncached.append(sample.id)
                self.problem = self.problem or str(error)
                self.explanations.setdefault(sample.id, outcome)

    def add(self, sample: Sample, explanation: Explanation) -> None:
        worst, where = worst_completeness({sample.id: explanation})
        self._count(len(explanation.tokens), worst, where)
        if self.keep:
            self.explanations[sample.id] = explanation

    def add_stored(self, stored: Stored, explanation: Explanation | None) -> None:
        self._count(stored.tokens, stored.worst, stored.where)
        if explanation is not None:
            self.explanations[stored.sample.id] = explanation

    def _count(self, tokens: int, worst: float | None, where: str) -> None:
        self.tokens += tokens
        if worst is not None and (self.worst is None or worst > self.worst):
            self.worst, self.where = worst, where


def cached(samples: list[Sample], config: BuildConfig) -> list[Explanation]:
    """Every sample's Explanation from the cache, in order; a missing one is a CacheError."""
    cache = ExplanationCache(config.cache_dir)
    cache.check()
    fields = key_fields(model_identity(config), config)
    out = []
    for sample in samples:
        explanation = cache.get(key_of(fields, sample.text), sample.text)
        if explanation is None:
            raise CacheError(
                f"sample {sample.id} (line {sample.line}) is not in the cache {config.cache_dir} for "
                f"these options; run `ligsite compute` with the same SAMPLES and options first"
            )
        out.append(explanation)
    return out


def worst_completeness(explanations: dict[str, Explanation]) -> tuple[float | None, str]:
    """The largest |ratio − target| over all explanations, and where: "<id> <run> layer l target j".

    The target is 1, except for ``trapezoid-captum`` whose weights sum to (n−1)/n, so its ratios
    are measured against (n−1)/n for the n each target used (METHOD.md: that shortfall is built in).
    """
    worst: float | None = None
    where = ""
    for sample_id, explanation in explanations.items():
        for run_key, run in explanation.runs.items():
            errors = np.abs(np.asarray(run.completeness, dtype=np.float64) - expected_ratio(explanation.quadrature, run))
            if not np.isfinite(errors).any():
                continue
            flat = int(np.nanargmax(errors))
            if worst is None or errors.flat[flat] > worst:
                index = np.unravel_index(flat, errors.shape)
                head = f" head {index[1]}" if errors.ndim == 3 else ""
                worst = float(errors.flat[flat])
                where = f"{sample_id} {run_key} layer {explanation.layers[index[0]]}{head} target {index[-1]}"
    return worst, where


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
