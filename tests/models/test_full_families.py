"""Full-granularity adapters reproduce the model itself (METHOD.md, "Boundaries inside one block").

Every family is checked against what the HF model computes in its own forward: hidden states,
attention probabilities, and the per-head context read by a hook on the output projection.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

from ligsite.models.attention import all_positions
from ligsite.models.loading import load

TEXT = "The quick brown fox jumps over the lazy dog, unbelievably."
FAMILIES = ["bert", "roberta", "electra", "distilbert", "gpt2", "minilm"]
OUT_PROJECTION = {  # the module whose input is the per-head context (pre W_O)
    "bert": lambda layer: layer.attention.output.dense,
    "roberta": lambda layer: layer.attention.output.dense,
    "distilbert": lambda layer: layer.attention.out_lin,
    "gpt2": lambda layer: layer.attn.c_proj,
}


def _folder(name, tiny_model_dir, minilm_dir):
    return minilm_dir if name == "minilm" else tiny_model_dir(name)


@contextmanager
def _contexts(adapter):
    """Record the input of every block's output projection during one model forward."""
    seen: dict[int, torch.Tensor] = {}
    handles = []
    try:
        for index, layer in enumerate(adapter.layers()):
            module = OUT_PROJECTION[adapter.family](layer)
            hook = lambda m, args, index=index: seen.__setitem__(index, args[0][0].detach())  # noqa: E731
            handles.append(module.register_forward_pre_hook(hook))
        yield seen
    finally:
        for handle in handles:
            handle.remove()


@pytest.fixture(scope="module", params=FAMILIES)
def run(request, tiny_model_dir, minilm_dir):
    """(adapter, cache, HF outputs, per-layer context [T, H*d]) for one family, float32."""
    adapter = load(str(_folder(request.param, tiny_model_dir, minilm_dir)), dtype="float32")
    ids = adapter.tokenize(TEXT).input_ids
    cache = adapter.forward(ids)
    with torch.no_grad(), _contexts(adapter) as contexts:
        outputs = adapter.model(input_ids=ids[None], output_hidden_states=True, output_attentions=True)
    return adapter, cache, outputs, contexts


def test_cache_records_hf_hidden_states_and_attentions(run):
    adapter, cache, outputs, _ = run
    for l in range(adapter.n_layers):
        torch.testing.assert_close(cache.z[l], outputs.hidden_states[l][0], rtol=0, atol=0)
        torch.testing.assert_close(cache.attention[l], outputs.attentions[l][0], rtol=0, atol=0)
        folded = adapter.family == "gpt2" and l == adapter.n_layers - 1  # ln_f folded into the last
        if not folded:
            torch.testing.assert_close(cache.z_next[l], outputs.hidden_states[l + 1][0], rtol=0, atol=0)


def test_gpt2_last_block_output_is_its_own_not_ln_f(tiny_model_dir):
    adapter = load(str(tiny_model_dir("gpt2")))
    ids = adapter.tokenize(TEXT).input_ids
    cache = adapter.forward(ids)
    with torch.no_grad():
        final = adapter.model(input_ids=ids[None]).last_hidden_state[0]  # ln_f(z(L))
    last = adapter.n_layers - 1
    assert (cache.z_next[last] - final).abs().max() > 1e-2
    torch.testing.assert_close(adapter.model.ln_f(cache.z_next[last]), final, rtol=0, atol=1e-6)
    torch.testing.assert_close(adapter.block(last).layer(cache.z[last]), cache.z_next[last], rtol=0, atol=1e-5)


def test_layer_equals_block_output(run):
    adapter, cache, _, _ = run
    for l in range(adapter.n_layers):
        block = adapter.block(l)
        torch.testing.assert_close(block.layer(cache.z[l]), cache.z_next[l], rtol=0, atol=1e-5)


def test_finish_attend_project_equals_block_output(run):
    adapter, cache, _, _ = run
    for l in range(adapter.n_layers):
        block, z = adapter.block(l), cache.z[l]
        u = block.attend(*block.project(z), all_positions(z))  # [T, H, d]
        assert u.shape == (z.shape[0], adapter.n_heads, adapter.head_dim)
        torch.testing.assert_close(block.finish(u.flatten(-2), z), cache.z_next[l], rtol=0, atol=1e-5)


def test_att_equals_model_context_per_head(run):
    adapter, cache, _, contexts = run
    for l in range(adapter.n_layers):
        block, z = adapter.block(l), cache.z[l]
        u = block.attend(*block.project(z), all_positions(z))  # [T, H, d]
        torch.testing.assert_close(u.flatten(-2), contexts[l], rtol=0, atol=1e-5)


def test_mlp_at_real_u_equals_next_z(run):
    adapter, cache, _, contexts = run
    for l in range(adapter.n_layers):
        block = adapter.block(l)
        torch.testing.assert_close(block.finish(contexts[l], cache.z[l]), cache.z_next[l], rtol=0, atol=1e-5)


def test_single_query_attend_equals_row_of_full_attend(run):
    adapter, cache, _, _ = run
    block, z = adapter.block(0), cache.z[0]
    q, k, v = block.project(z)
    full = block.attend(q, k, v, all_positions(z))  # [T, H, d]
    t = z.shape[0]
    rows = block.attend(q.unsqueeze(1), k, v, torch.arange(t)[:, None])  # [T, 1, H, d]: Q=1 per row
    torch.testing.assert_close(rows[:, 0], full, rtol=0, atol=1e-6)


def test_leading_axes_are_batched(run):
    adapter, cache, _, _ = run
    block, z = adapter.block(0), cache.z[0]
    noise = torch.randn((2, 3, *z.shape), generator=torch.Generator().manual_seed(0))
    batch = z + 0.3 * noise  # [2, 3, T, D]
    out = block.layer(batch)
    torch.testing.assert_close(out[1, 2], block.layer(batch[1, 2]), rtol=0, atol=1e-5)
    torch.testing.assert_close(out[0, 1], block.layer(batch[0, 1]), rtol=0, atol=1e-5)


def test_decoder_block_is_causal_on_its_own(run):
    adapter, cache, _, _ = run
    block, z = adapter.block(adapter.n_layers - 1), cache.z[-1]
    j = z.shape[0] // 2
    changed = z.clone()
    changed[j + 1 :] += torch.randn_like(changed[j + 1 :])
    before, after = block.layer(z), block.layer(changed)
    if adapter.causal:
        assert torch.equal(before[: j + 1], after[: j + 1])
        (q, k, v), (q0, k0, v0) = block.project(changed), block.project(z)
        row = block.attend(q[j : j + 1], k, v, torch.tensor([j]))  # [1, H, d]
        assert torch.equal(row, block.attend(q0[j : j + 1], k0, v0, torch.tensor([j])))
        truncated = block.attend(q0[j : j + 1], k0[: j + 1], v0[: j + 1], torch.tensor([j]))
        torch.testing.assert_close(row, truncated, rtol=0, atol=1e-6)
    else:  # an encoder's early rows see later tokens
        assert (before[0] - after[0]).abs().max() > 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_float64_reproduces_block_tightly(family, tiny_model_dir, minilm_dir):
    adapter = load(str(_folder(family, tiny_model_dir, minilm_dir)), dtype="float64")
    cache = adapter.forward(adapter.tokenize(TEXT).input_ids)
    assert cache.z[0].dtype == torch.float64
    for l in range(adapter.n_layers):
        block = adapter.block(l)
        assert next(block_parameters(block)).dtype == torch.float64
        torch.testing.assert_close(block.layer(cache.z[l]), cache.z_next[l], rtol=0, atol=1e-12)


def block_parameters(block):
    """Parameters behind a block (a post-LN block's pieces, a pre-norm block's parts, or its module)."""
    module = getattr(block, "module", None) or (block.parts.out if hasattr(block, "parts") else block.pieces.query)
    return module.parameters()
