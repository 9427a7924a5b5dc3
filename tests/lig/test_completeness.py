"""Completeness on the real all-MiniLM-L6-v2: every granularity and baseline, as issue 2 asks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ligsite import explain
from ligsite.api import CompletenessWarning
from ligsite.models.loading import load

pytestmark = pytest.mark.slow
TEXTS = [
    "The old man quietly fed the pigeons in the park.",  # 13 tokens
    "In the late afternoon, after the long meeting about budgets, hiring and the new office had "
    "finally ended, the tired engineers walked slowly to the small cafe across the busy street.",
]


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return load(str(minilm_dir), "cpu", "float32")


def _errors(exp) -> dict[str, np.ndarray]:
    return {key: np.abs(run.completeness - 1.0) for key, run in exp.runs.items()}


@pytest.mark.parametrize("text", TEXTS)
def test_auto_steps_bring_every_granularity_and_baseline_within_two_percent(minilm, text):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompletenessWarning)
        exp = explain(text, model=minilm, steps="auto")
    assert set(exp.runs) == {"att:zero", "att:self_input_token", "mlp:zero", "mlp:att_itb_a0",
                             "layer:zero", "layer:self_input_token"}
    for key, err in _errors(exp).items():
        assert not np.isnan(err).any(), key  # an encoder always has something to attribute
        assert err.max() <= 0.02, f"{key}: worst completeness error {err.max():.4f}"
    assert not exp.warnings


@pytest.mark.parametrize("text", TEXTS)
def test_fixed_32_gauss_legendre_nodes_keep_the_median_error_under_one_percent(minilm, text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompletenessWarning)
        exp = explain(text, model=minilm, steps=32, quadrature="gauss-legendre")
    for key, err in _errors(exp).items():
        assert np.median(err) < 0.01, f"{key}: median completeness error {np.median(err):.4f}"
