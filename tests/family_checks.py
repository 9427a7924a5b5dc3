"""The checks every config-built family runs against its own Hugging Face layers (issue 10).

Shared by tests/models/test_other_families.py (ALBERT, MPNet, Switch) and test_deberta.py: the
block's pieces equal HF's layer, the fast routes equal the independent float64 reference of
``family_reference`` (1e-6), and the fast path equals the plain one (1e-9).
"""

from __future__ import annotations

import torch

import family_reference as ref
from ligsite.lig.completeness import nodes_for
from ligsite.lig.routes import att_route, layer_route, mlp_route


def block_matches_hf_layers(adapter, cache, calls, z_ref, z_atol: float) -> None:
    """z(l) (to ``z_atol``: a family whose HF norms run in float32 is not float64-exact), the
    per-head contexts (the output projection's input) and z(l+1) are HF's."""
    for layer, call in enumerate(calls):
        torch.testing.assert_close(cache.z[layer], z_ref[layer], rtol=0, atol=z_atol)
        block, z = adapter.block(layer), cache.z[layer]
        u = block.attend(*block.project(z), torch.arange(z.shape[0])).flatten(-2)  # [T, H*d]
        torch.testing.assert_close(u, call.u(z[None])[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(block.layer(z), call.forward(z[None])[0], rtol=0, atol=1e-12)


def routes_match_reference(adapter, cache, calls, steps: int) -> None:
    """att, mlp and layer of every block and raw baseline within 1e-6 of the HF-layer reference."""
    targets = torch.arange(len(cache.input_ids))
    for layer, call in enumerate(calls):
        block, z = adapter.block(layer), cache.z[layer]
        for baseline in ("zero", "self_input_token"):
            nodes, weights = nodes_for("layer", block, z, baseline, "gauss-legendre", steps)
            scores, _ = layer_route(block, z, targets, baseline, nodes, weights)  # [J, T]
            assert ref.rel(scores.T.numpy(), ref.layer_map(call, z, baseline, nodes, weights)) < 1e-6, (layer, baseline)
            nodes, weights = nodes_for("att", block, z, baseline, "gauss-legendre", steps)
            scores, _ = att_route(block, z, targets, baseline, nodes, weights)  # [J, T, H]
            expected = ref.att_map(call, z, baseline, nodes, weights)
            assert ref.rel(scores.permute(2, 1, 0).numpy(), expected) < 1e-6, (layer, baseline)
        for baseline in ("zero", "att_itb_a0"):
            nodes, weights = nodes_for("mlp", block, z, baseline, "gauss-legendre", steps)
            scores, _ = mlp_route(block, z, targets, baseline, nodes, weights)  # [J, H]
            assert ref.rel(scores.numpy(), ref.mlp_map(call, z, baseline, nodes, weights)) < 1e-6, (layer, baseline)


def fast_equals_plain(block, z, targets, baseline: str, steps: int) -> None:
    """att and layer of one block: the fast path against interpolated block inputs, 1e-9."""
    for route in (att_route, layer_route):
        nodes, weights = nodes_for(route.__name__[:-6], block, z, baseline, "gauss-legendre", steps)
        fast, fast_value = route(block, z, targets, baseline, nodes, weights)
        plain, plain_value = route(block, z, targets, baseline, nodes, weights, fast=False)
        assert ref.rel(fast.numpy(), plain.numpy()) < 1e-9
        torch.testing.assert_close(fast_value, plain_value, rtol=1e-12, atol=1e-12)
