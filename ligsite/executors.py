"""Where the samples a cache lacks get explained: this process, N local processes, or Ray.

Every executor runs the same pure per-batch function, ``explain_samples(engine, samples)``,
with the model loaded once per process (``engine_for``), and yields ``(sample, outcome)`` as
each batch finishes, so ``precompute.compute`` stores it and moves one progress bar whatever ran
it. A batch's sentences share IG calls where the family allows it (``api.explain_many``);
``per_call`` says how many samples one call gets. An outcome is an ``Explanation``, a ``Failure`` (the engine rejected the sample), or a
``Stored`` summary (a Ray task wrote the entry into the shared cache itself).

- ``serial``: this process (``--workers 1``, the default).
- ``local_pool``: ``--workers N`` spawned processes fed from one queue of missing samples; with
  ``--workers auto`` one per visible GPU (each sees only its own), or one on a CPU-only machine
  (torch already uses every core there). CPU workers split the cores between them.
- ``ray_batches``: ``--executor ray``: one Ray core task per batch of sentences, ``num_gpus=1``
  per task when the cluster has GPUs, retried on worker death (``max_retries``); each task
  writes its entries straight into the cache folder, which must be shared by every node.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ligsite.config import BuildConfig
from ligsite.errors import CacheError, ComputeFailed, InputError, NumericalError
from ligsite.samples import Sample

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation

RAY_MAX_RETRIES = 3  # a task whose worker dies is run again this many times, then its samples fail
REFUSED = (InputError, NumericalError, ComputeFailed)  # the engine's reasons for not explaining a sample
# a build's samples per engine call with batch_size="auto" on GPUs (fewer on short runs: ``per_call``);
# inside a call explain_many shares IG calls among up to runs.AUTO_SHARED_MOST (64), so 16 rules here
AUTO_PER_CALL = 16


@dataclass(frozen=True)
class Failure:
    """A sample the engine rejected, with the engine's reason."""

    sample: Sample
    reason: str

    def __str__(self) -> str:
        return f"sample {self.sample.id} (line {self.sample.line}): {self.reason}"


@dataclass(frozen=True)
class Stored:
    """A sample explained and cached by a remote task: what the summary needs, not the arrays."""

    sample: Sample
    tokens: int
    worst: float | None
    where: str


Outcome = Any  # Explanation | Failure | Stored


def granularity(config: BuildConfig) -> tuple[str, ...]:
    """The routes ``explain`` must run: att and mlp for composed maps, layer for direct ones."""
    routes = ("att", "mlp") if config.composed else ()
    return routes + (("layer",) if config.layer_baselines else ())


class Engine:
    """``explain`` with the model loaded once (an adapter, not a name) and every option bound."""

    def __init__(self, config: BuildConfig) -> None:
        from ligsite.api import CompletenessWarning, explain_many
        from ligsite.models.loading import load

        self._explain_many = explain_many
        self._warning = CompletenessWarning
        self._config = config
        self._adapter = load(config.model, config.device, config.dtype, config.weights_dtype)
        n_layers = self._adapter.n_layers
        if config.layers is not None and max(config.layers) >= n_layers:
            # the same for every sample: one line now, not one failure per sample
            raise InputError(
                f"layers {list(config.layers)}: {config.model} has blocks 0..{n_layers - 1}; "
                f"pick --layers (or layers in ligsite.toml) from those"
            )

    def explain(self, text: str) -> Explanation:
        (explanation,) = self.explain_many([text])
        return explanation

    def explain_many(self, texts: list[str]) -> list[Explanation]:
        """Every text explained, sharing IG calls up to ``batch_size`` (the numbers of one at a time)."""
        config, wanted = self._config, granularity(self._config)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self._warning)  # kept in the Explanation and the report
            return self._explain_many(
                texts,
                model=self._adapter,
                steps=config.steps,
                granularity=wanted,
                baselines={g: names for g, names in config.baselines.items() if g in wanted},
                layers=list(config.layers) if config.layers is not None else None,
                quadrature=config.quadrature,
                device=config.device,
                dtype=config.dtype,
                batch_size=config.batch_size,
            )


def _refusals() -> tuple[type[BaseException], ...]:
    """What the engine raises for a sample it cannot explain: ligsite's refusals, and CUDA running
    out of memory outside the IG core's halving loop (a padded batch's set-up). Torch is loaded
    already wherever an engine exists."""
    import torch

    return REFUSED + (torch.cuda.OutOfMemoryError,)


def explain_sample(engine: Engine, sample: Sample) -> Explanation | Failure:
    """One sample alone: an Explanation, or the engine's refusal."""
    try:
        return engine.explain(sample.text)
    except _refusals() as error:
        return Failure(sample, _reason(error))


def _reason(error: BaseException) -> str:
    if isinstance(error, REFUSED):
        return str(error)
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"CUDA ran out of memory on this sample even alone ({first}); it needs more free GPU memory"


def _free_cached_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def explain_samples(engine: Engine, samples: list[Sample]) -> list[Explanation | Failure]:
    """The one per-batch step every executor runs: each sample's Explanation or refusal, in order.

    The batch shares IG calls; if the engine refuses it (a text too long, non-finite values, CUDA
    out of memory in the shared call's set-up), each sample is run alone, so only the bad one fails.
    """
    if len(samples) > 1:
        try:
            return engine.explain_many([sample.text for sample in samples])
        except _refusals() as error:
            if not isinstance(error, REFUSED):  # CUDA out of memory
                _free_cached_memory()
    return [explain_sample(engine, sample) for sample in samples]


def per_call(config: BuildConfig, todo: int, workers: int = 1, gpus: int = 0) -> int:
    """Samples per engine call: ``batch_size``; with "auto" on GPUs up to 16 but at least 4 calls
    per run (so the progress bar moves and a killed run keeps most of its finished work), on CPUs
    1 (the engine runs them one at a time there anyway); never fewer calls than workers."""
    if config.batch_size != "auto":
        size = config.batch_size
    else:
        size = min(AUTO_PER_CALL, max(1, todo // 4)) if gpus and config.device != "cpu" else 1
    return max(1, min(size, math.ceil(todo / max(1, workers))))


def batches(todo: list[Sample], size: int) -> list[list[Sample]]:
    return [todo[start:start + size] for start in range(0, len(todo), size)]


_ENGINES: dict[BuildConfig, Engine] = {}  # per process: a worker loads its model once, not per task


def engine_for(config: BuildConfig) -> Engine:
    """This process's engine for ``config`` (loaded on first use)."""
    if config not in _ENGINES:
        _ENGINES.clear()  # one model per worker process
        _ENGINES[config] = Engine(config)
    return _ENGINES[config]


# ---- this process ----------------------------------------------------------------------------


def serial(todo: list[Sample], config: BuildConfig, gpus: int = 0) -> Iterator[tuple[Sample, Outcome]]:
    """Each sample's outcome in file order, in this process, a batch at a time."""
    engine = Engine(config)
    for batch in batches(todo, per_call(config, len(todo), 1, gpus)):
        yield from zip(batch, explain_samples(engine, batch), strict=True)


# ---- N local processes -----------------------------------------------------------------------


def worker_count(workers: int | str, gpus: int) -> int:
    """``--workers``: a number, or "auto" = one per visible GPU (1 without GPUs)."""
    return max(1, gpus) if workers == "auto" else int(workers)


def visible_gpus() -> int:
    """CUDA devices this process may use, without importing torch.

    ``CUDA_VISIBLE_DEVICES`` when set ("" or "-1": none), else the NVIDIA driver's device list.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        names = [part.strip() for part in visible.split(",") if part.strip()]
        return 0 if not names or names[0] == "-1" else len(names)
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0


def local_pool(todo: list[Sample], config: BuildConfig, workers: int, gpus: int) -> Iterator[tuple[Sample, Outcome]]:
    """Outcomes as they finish from ``workers`` spawned processes sharing one queue of batches.

    Each process takes the next batch when it is free; on a GPU machine worker k sees only
    GPU k (``CUDA_VISIBLE_DEVICES``), on CPUs each gets an equal share of the cores.
    """
    context = multiprocessing.get_context("spawn")  # never fork a process that may hold CUDA or threads
    slots = context.Queue()
    for index in range(workers):
        slots.put(_slot(index, workers, gpus))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker,
                             initargs=(slots,)) as pool:
        pending: dict[Future, list[Sample]] = {pool.submit(_pool_task, config, batch): batch
                                               for batch in batches(todo, per_call(config, len(todo), workers, gpus))}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    # an engine error (bad layers) re-raises here
                    yield from zip(pending.pop(future), future.result(), strict=True)
        finally:
            for future in pending:
                future.cancel()


def _slot(index: int, workers: int, gpus: int) -> dict[str, str]:
    """The environment worker ``index`` starts with: its GPU, or its share of the CPU cores."""
    if gpus:
        return {"CUDA_VISIBLE_DEVICES": _visible_list()[index % gpus]}
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def _visible_list() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return [part.strip() for part in visible.split(",")] if visible else [str(i) for i in range(visible_gpus())]


def _start_worker(slots: Any) -> None:
    os.environ.update(slots.get())  # before torch is imported in this process


def _pool_task(config: BuildConfig, batch: list[Sample]) -> list[Outcome]:
    return explain_samples(engine_for(config), batch)


# ---- Ray -------------------------------------------------------------------------------------


def explain_and_store(config: BuildConfig, samples: list[Sample], keys: list[str], fields: dict) -> list[Outcome]:
    """A Ray task's body: explain a batch and write each entry into the (shared) cache.

    Returns a ``Stored`` summary per sample, the Explanation itself when this node cannot write
    the cache (the driver stores it), or the Failure. Rerunning it (a retried task) rewrites the
    same keys with the same numbers, atomically, so nothing is duplicated.
    """
    from ligsite.cache import ExplanationCache
    from ligsite.precompute import worst_completeness

    cache, engine = ExplanationCache(config.cache_dir), engine_for(config)
    out: list[Outcome] = []
    for sample, key, outcome in zip(samples, keys, explain_samples(engine, samples), strict=True):
        if not isinstance(outcome, Failure):
            try:
                cache.put(key, outcome, fields)
            except CacheError:
                out.append(outcome)
                continue
            worst, where = worst_completeness({sample.id: outcome})
            outcome = Stored(sample, len(outcome.tokens), worst, where)
        out.append(outcome)
    return out


def ray_batches(todo: list[Sample], config: BuildConfig, keys: dict[str, str], fields: dict,
                address: str | None = None, task: Callable[..., list[Outcome]] = explain_and_store,
                max_retries: int = RAY_MAX_RETRIES) -> Iterator[tuple[Sample, Outcome]]:
    """Outcomes as Ray tasks finish, one task per batch of sentences.

    Joins the running Ray session if there is one (e.g. ``ray.init(num_cpus=2)`` in a test),
    else ``ray.init(address)`` (None: a local cluster). ``task`` is the batch body
    (``explain_and_store``); a task whose worker dies is retried ``max_retries`` times, after
    which its samples are Failures and the other batches still finish.
    """
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install 'ligsite[ray]'") from None
    if not ray.is_initialized():
        if address is None:  # a local cluster, quiet: ligsite draws its own progress
            ray.init(log_to_driver=False, include_dashboard=False)
        else:
            ray.init(address=address)
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    config = _portable(config)
    remote = ray.remote(num_gpus=1 if gpus else 0, num_cpus=1, max_retries=max_retries)(task)
    size = max(1, min(8, math.ceil(len(todo) / (2 * max(1, gpus or cpus)))))  # ~2 tasks per slot
    size = size if config.batch_size == "auto" else config.batch_size
    pending = {remote.remote(config, batch, [keys[s.id] for s in batch], fields): batch for batch in batches(todo, size)}
    while pending:
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        batch = pending.pop(ready)
        try:
            results = ray.get(ready)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as error:
            results = [Failure(s, f"its Ray worker died {max_retries + 1} times ({type(error).__name__})") for s in batch]
        except ray.exceptions.RayTaskError as error:
            cause = error.cause if isinstance(getattr(error, "cause", None), BaseException) else error
            if isinstance(cause, InputError):  # the same for every batch (e.g. layers outside the model)
                raise cause from None
            raise ComputeFailed(f"a Ray task failed on samples {', '.join(s.id for s in batch)}: {cause}") from None
        for sample, outcome in zip(batch, results):
            yield sample, outcome


def _portable(config: BuildConfig) -> BuildConfig:
    """``config`` with absolute paths: Ray workers do not run in the driver's folder."""
    model = Path(config.model).expanduser()
    return replace(config, cache_dir=Path(config.cache_dir).resolve(),
                   model=str(model.resolve()) if model.is_dir() else config.model)
