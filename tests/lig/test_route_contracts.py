"""Contracts the routes rely on (issue 10's loose ends), checked per adapter.

- Routes reject baselines that are not theirs (not only ``explain``): mlp takes zero and
  att_itb_a0 only; att and layer take zero and self_input_token only; fast and plain paths alike.
- ``block.attend`` is exactly ``softmax(f(scale · q·k) + bias + mask) · v`` with f the identity
  or a soft cap: the fast paths form the dot products along their paths themselves and read the
  weights from ``block.probabilities(dots, positions)``, so those must be the model's own (the
  forward cache's eager probabilities), ``attend`` must be them times v, and both layouts the
  paths use (one query per (target, node); targets as queries of a node) must give the same.
- Block-only replay passes no cache: the recorded forward runs with ``use_cache=False`` and
  cache objects never reach a replayed call.
"""

from __future__ import annotations

import pytest
import torch

from ligsite.errors import InputError
from ligsite.lig.quadrature import rule
from ligsite.lig.routes import att_route, layer_route, mlp_route
from ligsite.models.blocks import ReplayBlock
from ligsite.models.loading import load

TEXT = "the cat sat on the mat"
CONTRACT_FAMILIES = ("bert", "distilbert", "gpt2", "llama", "gemma2", "modernbert", "albert", "mpnet",
                     "switch_transformers")


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def _block(tiny_model_dir, family: str, layer: int = 1):
    adapter = load(str(tiny_model_dir(family)), "cpu", "float64")
    cache = adapter.forward(adapter.tokenize(TEXT).input_ids)
    return adapter, cache, adapter.block(layer), cache.z[layer]


@pytest.mark.parametrize("family", ["bert", "llama"])
@pytest.mark.parametrize("fast", [True, False])
def test_routes_reject_baselines_that_are_not_theirs(tiny_model_dir, family, fast):
    _, _, block, z = _block(tiny_model_dir, family)
    nodes, weights = rule("gauss-legendre", 4)
    targets = torch.arange(z.shape[0])
    for baseline in ("self_input_token", "itb_zero_ratio", "output_token"):
        with pytest.raises(InputError, match="no mlp path.*valid: zero, att_itb_a0"):
            mlp_route(block, z, targets, baseline, nodes, weights, fast=fast)
    for route in (att_route, layer_route):
        for baseline in ("att_itb_a0", "itb_map_ratio", "output_token"):
            with pytest.raises(InputError, match="no raw path.*valid: zero, self_input_token"):
                route(block, z, targets, baseline, nodes, weights, fast=fast)


@pytest.mark.parametrize("family", CONTRACT_FAMILIES)
def test_probabilities_are_the_models_attention_and_attend_reads_them(tiny_model_dir, family):
    adapter, cache, block, z = _block(tiny_model_dir, family)
    t = z.shape[0]
    q, k, v = block.project(z)  # [T, H, d]
    positions = torch.arange(t)
    dots = torch.einsum("jhd,ihd->hji", q, k)  # [H, T_query, T_key]
    probs = block.probabilities(dots, positions)  # [H, T_query, T_key]
    torch.testing.assert_close(probs, cache.attention[1], rtol=0, atol=1e-6)  # the model's own (HF: some fp32)
    torch.testing.assert_close(torch.einsum("hji,ihd->jhd", probs, v), block.attend(q, k, v, positions),
                               rtol=0, atol=1e-12)
    rows = torch.tensor([t - 1, 1])
    # the tangent path: [node, head, target, source] with the targets as queries
    stacked = block.probabilities(torch.stack((dots[:, rows], 2 * dots[:, rows])), rows)  # [2, H, J, T]
    torch.testing.assert_close(stacked[0], probs[:, rows], rtol=0, atol=1e-12)
    # the projection path: one query per (target, node), [J, n, H, 1, T] with positions [J, n, 1]
    single = block.probabilities(dots[:, rows].transpose(0, 1)[:, None, :, None], rows.view(-1, 1, 1))
    torch.testing.assert_close(single[:, 0, :, 0], probs[:, rows].transpose(0, 1), rtol=0, atol=1e-12)
    assert float(probs.std()) > 1e-3 and bool((probs[:, 0, 1:] == 0).all()) == block.causal  # teeth


def test_replay_drops_cache_objects_and_keeps_tensors():
    from transformers import DynamicCache

    mask = torch.zeros(1, 1, 1, 4)
    block = ReplayBlock(0, torch.nn.Identity(), ((torch.zeros(1, 4, 8), mask, DynamicCache()),
                                                 {"past_key_values": DynamicCache(), "use_cache": True,
                                                  "cache_params": object(), "relative_pos": torch.arange(4)}),
                        (2, 4, 8))
    assert block._args[1] is mask and block._args[2] is None  # positions kept, the cache replaced by None
    assert set(block._kwargs) == {"relative_pos"}


@pytest.mark.parametrize("family", ["mamba"])
def test_block_only_forward_runs_without_a_cache(tiny_model_dir, family):
    adapter = load(str(tiny_model_dir(family)), "cpu", "float64")
    adapter.forward(adapter.tokenize(TEXT).input_ids)
    assert adapter.forward_kwargs == {"use_cache": False}
    for args, kwargs in adapter._calls.values():
        held = list(args) + list(kwargs.values())
        assert not any(type(x).__name__.endswith("Cache") for x in held)
