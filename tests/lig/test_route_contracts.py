"""Contracts the routes rely on (issue 10's loose ends), checked per adapter.

- Routes reject baselines that are not theirs (not only ``explain``): mlp takes zero and
  att_itb_a0 only; att and layer take zero and self_input_token only; fast and plain paths alike.
- ``block.attend`` is exactly ``softmax(f(scale · q·k) + bias + mask) · v`` with f the identity
  or a soft cap: it depends on q and k through their per-head dot products only and is linear in
  v. The projection-space path feeds it lifted 2-d queries and keys with the same dot products
  and one-hot values, so it must give the attention probabilities themselves — and they must be
  the model's own (the forward cache's eager probabilities). Pre-norm blocks give those weights
  from the dot products directly (``probabilities``, which the tangent path calls): the same check.
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
def test_attend_with_lifted_queries_and_one_hot_values_gives_the_models_probabilities(tiny_model_dir, family):
    adapter, cache, block, z = _block(tiny_model_dir, family)
    t, h = z.shape[0], block.n_heads
    q, k, v = block.project(z)  # [T, H, d]
    positions = torch.arange(t)
    u = block.attend(q, k, v, positions)  # [T, H, d]
    dots = torch.einsum("jhd,ihd->jih", q, k)  # [T_query, T_key, H]
    spread = torch.randn(dots.shape, generator=torch.Generator().manual_seed(0), dtype=dots.dtype)
    keys = torch.stack((dots - 0.5 * spread, spread), -1)  # [J, T, H, 2]: (1, 0.5)·key = q_j·k_i
    query = torch.tensor([1.0, 0.5], dtype=z.dtype).expand(t, 1, h, 2)  # [J, 1, H, 2]
    one_hot = torch.eye(t, dtype=z.dtype).unsqueeze(1).expand(t, t, h, t)  # [J, T, H, T]
    probs = block.attend(query, keys, one_hot, positions[:, None]).squeeze(1)  # [J, H, T_key]
    torch.testing.assert_close(torch.einsum("jhi,ihd->jhd", probs, v), u, rtol=0, atol=1e-12)
    torch.testing.assert_close(probs.sum(-1), torch.ones(t, h, dtype=z.dtype), rtol=0, atol=1e-12)
    real = cache.attention[1].permute(1, 0, 2)  # [H, T_query, T_key] -> [J, H, T_key]
    torch.testing.assert_close(probs, real, rtol=0, atol=1e-6)  # HF's (some compute in float32)
    assert float(probs.std()) > 1e-3  # not uniform: the check has teeth


PRENORM_CONTRACT = ("gpt2", "llama", "gemma2", "modernbert", "switch_transformers")


@pytest.mark.parametrize("family", PRENORM_CONTRACT)
def test_prenorm_probabilities_are_the_models_attention_and_attend_reads_them(tiny_model_dir, family):
    adapter, cache, block, z = _block(tiny_model_dir, family)
    t, h = z.shape[0], block.n_heads
    q, k, v = block.project(z)  # [T, H, d]
    positions = torch.arange(t)
    dots = torch.einsum("jhd,ihd->hji", q, k)  # [H, T_query, T_key]
    probs = block.probabilities(dots, positions)  # [H, T_query, T_key]
    torch.testing.assert_close(probs, cache.attention[1], rtol=0, atol=1e-6)  # the model's own weights
    torch.testing.assert_close(torch.einsum("hji,ihd->jhd", probs, v), block.attend(q, k, v, positions),
                               rtol=0, atol=1e-12)
    # queries laid out as the tangent path lays them: [node, head, target, source], positions [J]
    rows = torch.tensor([t - 1, 1])
    stacked = torch.stack((dots[:, rows], 2 * dots[:, rows]))  # [2, H, J, T]
    twice = block.probabilities(stacked, rows)
    torch.testing.assert_close(twice[0], probs[:, rows], rtol=0, atol=1e-12)
    assert float(probs.std()) > 1e-3 and bool((probs[:, 0, 1:] == 0).all()) == block.causal


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
