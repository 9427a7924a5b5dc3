"""`--workers N`: spawned processes fed from one queue give the serial path's entries."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ligsite.cache import ExplanationCache
from ligsite.cli import app
from ligsite.executors import visible_gpus, worker_count
from test_cli_build import table_value

SENTENCES = [f"Worker sentence {n} mentions {w} twice, {w}." for n, w in enumerate(["cats", "dogs", "rain", "tea", "owls"])]
runner = CliRunner()


def same_numbers(left: Path, right: Path) -> int:
    """Assert two caches hold the same keys with the same runs (1e-6); how many entries."""
    names = sorted(path.relative_to(left) for path in left.glob("??/*.json"))
    assert names == sorted(path.relative_to(right) for path in right.glob("??/*.json"))
    for name in names:
        a, b = (ExplanationCache(root).get(name.stem) for root in (left, right))
        assert a.tokens == b.tokens and a.runs.keys() == b.runs.keys()
        for key in a.runs:
            # fp32 sums in another thread count's order: equal to ~1 ulp, so 1e-6 relative and absolute
            np.testing.assert_allclose(a.runs[key].scores, b.runs[key].scores, rtol=1e-6, atol=1e-6, equal_nan=True)
    return len(names)


def test_two_workers_fill_the_cache_with_the_serial_entries(tmp_path: Path, tiny_model_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples.txt").write_text("\n".join(SENTENCES) + "\n")
    common = ["--model", str(tiny_model_dir("bert")), "--steps", "4", "--layers", "0", "--device", "cpu"]
    serial = runner.invoke(app, ["compute", "samples.txt", "--cache-dir", "serial", *common])
    pooled = runner.invoke(app, ["compute", "samples.txt", "--cache-dir", "pooled", "--workers", "2", *common])
    assert serial.exit_code == 0 and pooled.exit_code == 0, pooled.output
    assert (table_value(pooled.stdout, "computed"), table_value(pooled.stdout, "cache hits")) == (5, 0)
    assert same_numbers(tmp_path / "serial", tmp_path / "pooled") == len(SENTENCES)
    again = runner.invoke(app, ["compute", "samples.txt", "--cache-dir", "pooled", "--workers", "2", *common])
    assert again.exit_code == 0 and table_value(again.stdout, "cache hits") == 5


def test_an_engine_error_in_a_worker_is_one_line(tmp_path: Path, tiny_model_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples.txt").write_text("\n".join(SENTENCES[:2]) + "\n")
    result = runner.invoke(app, ["compute", "samples.txt", "--model", str(tiny_model_dir("bert")), "--steps", "4",
                                 "--layers", "7", "--workers", "2", "--device", "cpu"])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "has blocks 0..1" in result.stderr


def test_workers_auto_is_one_per_visible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert worker_count("auto", 0) == 1 and worker_count("auto", 4) == 4 and worker_count(3, 4) == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,2")
    assert visible_gpus() == 2
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert visible_gpus() == 0
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus() == (len(os.listdir("/proc/driver/nvidia/gpus")) if os.path.isdir("/proc/driver/nvidia/gpus") else 0)


def test_batched_compute_fills_the_cache_with_the_batch_1_entries(tmp_path: Path, tiny_model_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """--batch-size 3: sentences of different lengths share IG calls; each entry is its batch-1 one."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples.txt").write_text("\n".join(SENTENCES[:2] + ["Short.", "A much longer sentence, with commas, about owls and jazz."]) + "\n")
    common = ["--model", str(tiny_model_dir("bert")), "--steps", "auto", "--layers", "1", "--device", "cpu"]
    alone = runner.invoke(app, ["compute", "samples.txt", "--cache-dir", "alone", "--batch-size", "1", *common])
    shared = runner.invoke(app, ["compute", "samples.txt", "--cache-dir", "shared", "--batch-size", "3", *common])
    assert alone.exit_code == 0 and shared.exit_code == 0, shared.output
    assert same_numbers(tmp_path / "alone", tmp_path / "shared") == 4
    bad = runner.invoke(app, ["compute", "samples.txt", "--batch-size", "0", *common])
    assert bad.exit_code == 1 and "batch_size must be a positive integer or 'auto', got 0" in bad.output
