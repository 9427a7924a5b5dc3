"""Block-only replay (``ligsite.models.blocks``): LAYER by replaying the HF layer with the
arguments of the real forward, for a family without att/mlp adapter. DeBERTa has its own full
adapter now, so its layers serve here as the replayed family (relative positions and embeddings
travel with the captured call)."""

from __future__ import annotations

import pytest
import torch

from ligsite.errors import InputError
from ligsite.models.blocks import BlockOnlyAdapter

TEXT = "A tiny model reads a sentence that is longer than its local window of eight tokens."


class ReplayedDeberta(BlockOnlyAdapter):
    family = "deberta-replayed"

    def layers(self):
        return self.model.encoder.layer


def _replayed(folder) -> ReplayedDeberta:
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(folder, attn_implementation="eager")
    return ReplayedDeberta(model, AutoTokenizer.from_pretrained(folder), folder.name, folder.name, torch.float32)


@pytest.fixture(scope="module", params=["deberta-v2", "deberta"])
def run(request, tiny_model_dir):
    adapter = _replayed(tiny_model_dir(request.param))
    ids = adapter.tokenize(TEXT).input_ids
    cache = adapter.forward(ids)
    with torch.no_grad():
        outputs = adapter.model(input_ids=ids[None], output_hidden_states=True)
    return adapter, cache, outputs


def test_granularities_are_layer_only(run):
    adapter, cache, _ = run
    assert adapter.granularities == ("layer",)
    assert all(a is None for a in cache.attention)
    with pytest.raises(InputError, match="block-only"):
        adapter.block(0).project(cache.z[0])


def test_layer_equals_block_output(run):
    adapter, cache, outputs = run
    assert len(cache.z) == adapter.n_layers == 2
    for l in range(adapter.n_layers):
        torch.testing.assert_close(cache.z[l], outputs.hidden_states[l][0], rtol=0, atol=0)
        torch.testing.assert_close(adapter.block(l).layer(cache.z[l]), cache.z_next[l], rtol=0, atol=1e-5)
    # hidden_states[l+1] where no final norm is folded in (ModernBERT folds final_norm into the last)
    torch.testing.assert_close(cache.z_next[0], outputs.hidden_states[1][0], rtol=0, atol=0)


def test_batched_replay_equals_one_at_a_time(run):
    """Captured masks / position tensors have batch 1 and must broadcast over the node batch."""
    adapter, cache, _ = run
    block, z = adapter.block(1), cache.z[1]
    noise = torch.randn((2, 3, *z.shape), generator=torch.Generator().manual_seed(1))
    batch = z + 0.5 * noise  # [2, 3, T, D]
    out = block.layer(batch)
    assert out.shape == batch.shape
    for a, b in [(0, 0), (1, 2)]:
        torch.testing.assert_close(out[a, b], block.layer(batch[a, b]), rtol=0, atol=1e-5)
    assert (out[0, 0] - out[1, 2]).abs().max() > 1e-3  # rows really differ


def test_replayed_layer_has_gradients_and_float64(run):
    adapter, cache, _ = run
    block = adapter.block(0, dtype=torch.float64)
    z = cache.z[0].double().requires_grad_(True)
    out = block.layer(z)
    assert out.dtype == torch.float64
    (grad,) = torch.autograd.grad(out[3].norm(), z)
    assert grad.abs().sum() > 0
    torch.testing.assert_close(out.float(), cache.z_next[0], rtol=0, atol=1e-5)


def test_block_before_forward_is_an_error(tiny_model_dir):
    adapter = _replayed(tiny_model_dir("deberta-v2"))
    with pytest.raises(InputError, match="call forward"):
        adapter.block(0)
