"""Mamba (issue 10): LAYER only through the block's own modules, causal zeros, no head axis.

The reference is IG through HF's own ``MambaBlock.forward`` (cache off) on a float64 copy whose
norms compute in float64 and whose residual is not rounded to float32 (``residual_in_fp32``);
the engine runs its plain block-only path.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

from ligsite.api import explain
from ligsite.config import BuildConfig
from ligsite.lig.completeness import nodes_for, run_route
from ligsite.lig.routes import layer_route
from ligsite.models.loading import load
from ligsite.payload import head_payloads, to_payload
from ligsite.samples import Sample, text_id

TEXT = "the cat sat on the mat and slept"
STEPS = 6


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def mamba(tiny_model_dir):
    folder = tiny_model_dir("mamba")
    adapter = load(str(folder), "cpu", "float64")
    cache = adapter.forward(adapter.tokenize(TEXT).input_ids)
    return folder, adapter, cache


def _hf_block_float64(adapter, layer: int):
    """HF's MambaBlock, float64 throughout (a copy: norm in float64, residual kept in float64)."""
    module = copy.deepcopy(adapter.model.layers[layer]).to(torch.float64)
    module.residual_in_fp32 = False
    norm = module.norm
    norm.forward = lambda x: norm.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon))
    return lambda X: module(X, cache=None, attention_mask=None)


def _reference_layer_map(f, z: torch.Tensor, baseline: str, nodes, weights) -> np.ndarray:
    """[T_src, T_tgt]: per target j, all nodes in one batch through f, autograd."""
    alphas, w = torch.as_tensor(nodes), torch.as_tensor(weights)
    cols = []
    for j in range(z.shape[0]):
        start = torch.zeros_like(z) if baseline == "zero" else z[j].expand_as(z).clone()
        with torch.no_grad():
            reference = f(start[None])[0, j]
        X = (start + alphas.view(-1, 1, 1) * (z - start)).requires_grad_(True)  # [n, T, D]
        loss = (w * (f(X)[:, j] - reference).norm(dim=-1)).sum()
        (grad,) = torch.autograd.grad(loss, X)
        cols.append(((z - start) * grad.sum(0)).sum(-1))
    return torch.stack(cols, 1).detach().numpy()


def test_block_is_layer_only_with_no_heads(mamba):
    _, adapter, cache = mamba
    assert adapter.granularities == ("layer",) and adapter.n_heads == adapter.head_dim == 0 and adapter.causal
    assert all(a is None for a in cache.attention)
    assert type(adapter.model).__name__ == "MambaModel"


def test_layer_equals_the_blocks_own_forward(mamba):
    _, adapter, cache = mamba
    for layer in range(adapter.n_layers):
        block, z = adapter.block(layer), cache.z[layer]
        torch.testing.assert_close(block.layer(z), _hf_block_float64(adapter, layer)(z[None])[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(block.layer(z), cache.z_next[layer], rtol=0, atol=1e-6)  # HF: float32 norm
    torch.testing.assert_close(cache.z[1], cache.z_next[0], rtol=0, atol=0)


@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_layer_route_equals_ig_through_the_hf_block(mamba, baseline):
    _, adapter, cache = mamba
    targets = torch.arange(len(cache.input_ids))
    for layer in range(adapter.n_layers):
        block, z = adapter.block(layer), cache.z[layer]
        nodes, weights = nodes_for("layer", block, z, baseline, "gauss-legendre", STEPS)
        scores, _ = layer_route(block, z, targets, baseline, nodes, weights)  # [J, T]
        expected = _reference_layer_map(_hf_block_float64(adapter, layer), z, baseline, nodes, weights)
        assert np.linalg.norm(scores.T.numpy() - expected) / np.linalg.norm(expected) < 1e-6


@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_sources_after_the_target_get_exactly_zero(mamba, baseline):
    _, adapter, cache = mamba
    t = len(cache.input_ids)
    source, target = np.meshgrid(np.arange(t), np.arange(t), indexing="ij")  # [T_src, T_tgt]
    for layer in range(adapter.n_layers):
        block, z = adapter.block(layer), cache.z[layer]
        nodes, weights = nodes_for("layer", block, z, baseline, "gauss-legendre", STEPS)
        scores = layer_route(block, z, torch.arange(t), baseline, nodes, weights)[0].T.numpy()
        assert np.all(scores[source > target] == 0.0)
        assert np.abs(scores[source < target]).sum() > 0


def test_every_target_meets_completeness_at_auto(mamba):
    _, adapter, cache = mamba
    targets = torch.arange(len(cache.input_ids))
    for layer in range(adapter.n_layers):
        block, z = adapter.block(layer), cache.z[layer]
        for baseline in ("zero", "self_input_token"):
            run = run_route("layer", block, z, targets, baseline, "gauss-legendre", "auto", 0.02)
            off = (run.ratio - 1).abs()
            assert bool((off[~off.isnan()] <= 0.02).all()), (layer, baseline)


def test_explanation_and_payload_have_no_head_axis(mamba):
    folder, adapter, _ = mamba
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = explain(TEXT, model=adapter, steps=4)
    assert exp.n_heads == 0 and exp.granularities == ["layer"] and exp.self_probs is None
    assert sorted(exp.runs) == ["layer:self_input_token", "layer:zero"]
    config = BuildConfig(model=str(folder), steps=4, composed=())
    sample = Sample(text_id(TEXT), TEXT, None, None)
    payload = to_payload(exp, sample, config)
    assert payload["n_heads"] == 0 and payload["l2"] == {}
    assert all(key.startswith("direct:") for key in payload["maps"]) and payload["maps"]
    assert all(key.startswith("layer:") for key in payload["completeness"])
    assert config.baselines["att"] == [] and head_payloads(exp, config) == {}  # no head files at all
