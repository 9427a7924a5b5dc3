"""The fast engine equals a plain reference: one torch.autograd.grad per target and node.

The reference uses only the adapter's whole-block functions (``block.layer(z)``,
``attend(project(z))``, ``finish``) and the baseline matrices exactly as METHOD.md writes them,
so it shares none of the engine's shortcuts (projection-space paths, row-j-only FFN, batching).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ligsite.api import explain
from ligsite.lig.completeness import nodes_for
from ligsite.models.loading import load

TEXT = "the cat sat on mats"
STEPS = 5
FULL = ("bert", "gpt2", "distilbert", "modernbert", "albert", "mpnet", "deberta-v2")
BLOCK_ONLY = ("mamba",)
pytestmark = pytest.mark.filterwarnings("ignore::ligsite.api.CompletenessWarning")


@pytest.fixture(scope="module")
def runs(tiny_model_dir):
    """family -> (adapter, Explanation with every granularity and raw baseline, float64)."""
    out = {}
    for family in FULL + BLOCK_ONLY:
        adapter = load(str(tiny_model_dir(family)), "cpu", "float64")
        out[family] = adapter, explain(TEXT, model=adapter, steps=STEPS, dtype="float64")
    return out


def _ig(f, x: torch.Tensor, start: torch.Tensor, rule: tuple) -> np.ndarray:
    """Plain IG of ‖f(x(α)) − f(start)‖ at the engine's nodes ``rule``, per hidden coordinate."""
    reference = f(start).detach()
    total = torch.zeros_like(x)
    for alpha, weight in zip(*rule):
        point = (start + float(alpha) * (x - start)).requires_grad_(True)
        (grad,) = torch.autograd.grad((f(point) - reference).norm(), point)
        total += float(weight) * grad
    return ((x - start) * total).detach().numpy()


def _start(z: torch.Tensor, j: int, baseline: str) -> torch.Tensor:
    return torch.zeros_like(z) if baseline == "zero" else z[j].expand_as(z).clone()


def _context(block, z: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(z.shape[-2])
    return block.attend(*block.project(z), positions)  # [T, H, d]


def _blocks(runs, family):
    """(explanation, layer, block, real block input z [T, D]) for every computed layer."""
    adapter, exp = runs[family]
    cache = adapter.forward(adapter.tokenize(TEXT).input_ids)
    for layer in exp.layers:
        yield exp, layer, adapter.block(layer), cache.z[layer]


def _assert_close(fast: np.ndarray, reference: np.ndarray) -> None:
    err = np.linalg.norm(fast - reference) / np.linalg.norm(reference)
    assert err < 1e-6, f"relative error {err:.2e}"


@pytest.mark.parametrize("family", FULL + BLOCK_ONLY)
@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_layer_route_equals_plain_reference(runs, family, baseline):
    for exp, layer, block, z in _blocks(runs, family):
        rule = nodes_for("layer", block, z, baseline, "gauss-legendre", STEPS)
        reference = np.stack([_ig(lambda x: block.layer(x)[j], z, _start(z, j, baseline), rule).sum(-1)
                              for j in range(z.shape[0])], axis=1)  # [T_src, T_tgt]
        _assert_close(exp.z2z(layer, baseline), reference)


@pytest.mark.parametrize("family", FULL)
@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_att_route_equals_plain_reference(runs, family, baseline):
    for exp, layer, block, z in _blocks(runs, family):
        t, h = z.shape[0], block.n_heads
        rule = nodes_for("att", block, z, baseline, "gauss-legendre", STEPS)
        reference = np.stack([np.stack([
            _ig(lambda x: _context(block, x)[j, head], z, _start(z, j, baseline), rule).sum(-1)
            for j in range(t)], axis=1) for head in range(h)])  # [H, T_src, T_tgt]
        _assert_close(exp.att(layer, baseline), reference)


@pytest.mark.parametrize("family", FULL)
@pytest.mark.parametrize("baseline", ["zero", "att_itb_a0"])
def test_mlp_route_equals_plain_reference(runs, family, baseline):
    for exp, layer, block, z in _blocks(runs, family):
        u = _context(block, z).flatten(-2)  # [T, H*d]
        rule = nodes_for("mlp", block, z, baseline, "gauss-legendre", STEPS)
        rows = []
        for j in range(z.shape[0]):
            # att_itb_a0 as METHOD.md defines it: ATT with every row of the input equal to z_j.
            start = torch.zeros_like(u[j]) if baseline == "zero" else _context(block, _start(z, j, "itb"))[j].flatten()
            scores = _ig(lambda x: block.finish(x, z[j]), u[j], start, rule)  # [H*d]
            rows.append(scores.reshape(block.n_heads, -1).sum(-1))
        _assert_close(exp.mlp(layer, baseline), np.stack(rows))  # [T_tgt, H]


@pytest.mark.parametrize("family", FULL)
def test_att_itb_a0_is_the_value_projection_of_the_target_row(runs, family):
    adapter, _ = runs[family]
    z = adapter.forward(adapter.tokenize(TEXT).input_ids).z[1]
    block = adapter.block(1)
    _, _, v = block.project(z)  # [T, H, d]
    for j in range(z.shape[0]):
        torch.testing.assert_close(_context(block, _start(z, j, "itb"))[j], v[j])


@pytest.mark.parametrize("family", FULL + BLOCK_ONLY)
def test_itb_self_scores_are_exactly_zero(runs, family):
    _, exp = runs[family]
    for layer in exp.layers:
        assert np.all(np.diagonal(exp.z2z(layer, "self_input_token")) == 0.0)
        if family not in BLOCK_ONLY:
            assert np.all(np.diagonal(exp.att(layer, "self_input_token"), axis1=1, axis2=2) == 0.0)


@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_decoder_sources_after_the_target_are_exactly_zero(runs, baseline):
    _, exp = runs["gpt2"]
    after = np.tril(np.ones((len(exp.tokens),) * 2, dtype=bool), -1)  # [source i > target j]
    for layer in exp.layers:
        assert np.all(exp.z2z(layer, baseline)[after] == 0.0)
        assert np.all(exp.att(layer, baseline)[:, after] == 0.0)
        assert np.abs(exp.z2z(layer, baseline)[~after]).sum() > 0


def test_decoder_first_token_under_itb_has_nothing_to_attribute(runs):
    _, exp = runs["gpt2"]
    for layer in exp.layers:
        assert np.all(exp.z2z(layer, "self_input_token")[:, 0] == 0.0)
        assert np.isnan(exp.completeness("layer", layer, "self_input_token")[0])
        assert np.isnan(exp.completeness("mlp", layer, "att_itb_a0")[0])
