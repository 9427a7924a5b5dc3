"""`--executor ray` on a real local cluster (2 CPUs): the serial path's entries, and a worker that
dies on its first attempt is retried with no sample lost or duplicated. Skipped only without Ray
(CI installs it: .ci/setup)."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from ligsite.cache import ExplanationCache, key_fields, key_of  # noqa: E402
from ligsite.cache_admin import scan  # noqa: E402
from ligsite.config import BuildConfig  # noqa: E402
from ligsite.executors import Failure, Stored, explain_and_store, ray_batches  # noqa: E402
from ligsite.precompute import compute, fit_to_model, model_identity  # noqa: E402
from ligsite.samples import Sample  # noqa: E402
from test_executors import same_numbers  # noqa: E402

SENTENCES = [f"Ray sentence {n} is about {w}." for n, w in enumerate(["cats", "dogs", "rain", "tea", "owls", "moss"])]
MARKER_ENV = "LIGSITE_TEST_CRASH_MARKER"


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module (starting one takes seconds)."""
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}})
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    yield time.perf_counter() - started
    ray.shutdown()


def samples() -> list[Sample]:
    return [Sample(id=f"s{n}", text=text, line=n + 1) for n, text in enumerate(SENTENCES)]


def config_for(tiny_model_dir, cache: Path) -> BuildConfig:
    return fit_to_model(BuildConfig(model=str(tiny_model_dir("bert")), steps=4, layers=(1,), device="cpu", cache_dir=cache))


def dies_first_time(config, batch, keys, fields):
    """explain_and_store, except that the first attempt of the batch holding s0 kills its worker."""
    marker = Path(os.environ[MARKER_ENV])
    if any(sample.id == "s0" for sample in batch) and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)  # the worker process dies mid-task: Ray must retry it elsewhere
    return explain_and_store(config, batch, keys, fields)


def test_ray_fills_the_cache_with_the_serial_entries(cluster, tiny_model_dir, tmp_path: Path) -> None:
    serial = compute(samples(), config_for(tiny_model_dir, tmp_path / "serial"), progress=False)
    distributed = compute(samples(), replace(config_for(tiny_model_dir, tmp_path / "ray"), executor="ray"), progress=False)
    assert (distributed.computed, distributed.cache_hits, distributed.failures) == (len(SENTENCES), 0, ())
    assert distributed.tokens == serial.tokens and set(distributed.explanations) == set(serial.explanations)
    assert same_numbers(tmp_path / "serial", tmp_path / "ray") == len(SENTENCES)
    assert scan(tmp_path / "ray").count("ok") == len(SENTENCES)  # written by the workers, records included


def test_a_worker_that_dies_is_retried_and_no_sample_is_lost_or_duplicated(cluster, tiny_model_dir, tmp_path: Path) -> None:
    marker = tmp_path / "crashed-once"
    config = config_for(tiny_model_dir, tmp_path / "cache")
    fields = key_fields(model_identity(config), config)
    keys = {sample.id: key_of(fields, sample.text) for sample in samples()}
    outcomes = list(ray_batches(samples(), config, keys, fields, task=_with_env(dies_first_time, marker), max_retries=2))
    assert marker.exists(), "the first attempt did not die: the test proves nothing"
    assert sorted(sample.id for sample, _ in outcomes) == sorted(keys)  # each sample exactly once
    assert all(isinstance(outcome, Stored) for _, outcome in outcomes), [o for _, o in outcomes if isinstance(o, Failure)]
    result = scan(tmp_path / "cache")
    assert result.count("ok") == len(SENTENCES) and len(result.entries) == len(SENTENCES)
    assert {entry.path.stem for entry in result.entries} == set(keys.values())
    assert all(ExplanationCache(tmp_path / "cache").get(keys[s.id], s.text) is not None for s in samples())


def _with_env(function, marker: Path):
    """``function`` run with the marker's path in its environment (set in the worker, per test)."""

    def task(config, batch, keys, fields):
        os.environ[MARKER_ENV] = str(marker)
        return function(config, batch, keys, fields)

    task.__name__ = function.__name__
    return task
