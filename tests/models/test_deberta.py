"""DeBERTa v1 / v2 (issue 10): layer only, through the block's own forward; v2's convolution
after block 0 (applied by the encoder, outside the layer module) is part of LAYER_0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ligsite.lig.completeness import nodes_for, run_route
from ligsite.lig.routes import layer_route
from ligsite.models.loading import load

TEXT = "the cat sat on the mat and slept"
STEPS = 6


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module", params=["deberta-v2-conv", "deberta"])
def deberta(request, tiny_model_dir):
    adapter = load(str(tiny_model_dir(request.param)), "cpu", "float64")
    ids = adapter.tokenize(TEXT).input_ids
    cache = adapter.forward(ids)
    with torch.no_grad():
        outputs = adapter.model(input_ids=ids[None], output_hidden_states=True)
    return request.param, adapter, cache, outputs


def _hf_layer0(adapter, cache):
    """Block 0 as the encoder runs it: the HF layer with its real call, then (v2) the conv."""
    encoder = adapter.model.encoder
    args, kwargs = adapter._calls[0]
    kwargs = {k: v for k, v in kwargs.items() if k != "output_attentions"}

    def f(X):  # [N, T, D]
        out = encoder.layer[0](X, *args[1:], **kwargs)[0]
        if getattr(encoder, "conv", None) is not None:
            out = encoder.conv(X, out, torch.ones(1, X.shape[1], dtype=torch.long))
        return out

    return f


def test_block_outputs_are_the_encoders_hidden_states(deberta):
    family, adapter, cache, outputs = deberta
    assert adapter.granularities == ("layer",)
    assert (getattr(adapter.model.encoder, "conv", None) is not None) == (family == "deberta-v2-conv")
    for layer in range(adapter.n_layers):
        torch.testing.assert_close(cache.z_next[layer], outputs.hidden_states[layer + 1][0], rtol=0, atol=1e-12)
        torch.testing.assert_close(adapter.block(layer).layer(cache.z[layer]), cache.z_next[layer], rtol=0, atol=1e-12)
    if family == "deberta-v2-conv":  # the layer module alone is not z(1): the conv is part of LAYER_0
        args, kwargs = adapter._calls[0]
        alone = adapter.model.encoder.layer[0](cache.z[0][None], *args[1:], **kwargs)[0][0]
        assert (alone - cache.z[1]).abs().max() > 1e-2


@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_layer0_route_equals_ig_through_the_hf_layer_and_conv(deberta, baseline):
    _, adapter, cache, _ = deberta
    block, z = adapter.block(0), cache.z[0]
    nodes, weights = nodes_for("layer", block, z, baseline, "gauss-legendre", STEPS)
    scores, _ = layer_route(block, z, torch.arange(z.shape[0]), baseline, nodes, weights)  # [J, T]
    f, alphas, w = _hf_layer0(adapter, cache), torch.as_tensor(nodes), torch.as_tensor(weights)
    cols = []
    for j in range(z.shape[0]):
        start = torch.zeros_like(z) if baseline == "zero" else z[j].expand_as(z).clone()
        with torch.no_grad():
            reference = f(start[None])[0, j]
        X = (start + alphas.view(-1, 1, 1) * (z - start)).requires_grad_(True)
        (grad,) = torch.autograd.grad((w * (f(X)[:, j] - reference).norm(dim=-1)).sum(), X)
        cols.append(((z - start) * grad.sum(0)).sum(-1))
    expected = torch.stack(cols, 1).detach().numpy()  # [T_src, T_tgt]
    assert np.linalg.norm(scores.T.numpy() - expected) / np.linalg.norm(expected) < 1e-9
    if baseline == "self_input_token":
        assert np.all(np.diagonal(scores.numpy()) == 0.0)


def test_every_target_meets_completeness_at_auto(deberta):
    _, adapter, cache, _ = deberta
    targets = torch.arange(len(cache.input_ids))
    for layer in range(adapter.n_layers):
        for baseline in ("zero", "self_input_token"):
            run = run_route("layer", adapter.block(layer), cache.z[layer], targets, baseline,
                            "gauss-legendre", "auto", 0.02)
            off = (run.ratio - 1).abs()
            assert bool((off[~off.isnan()] <= 0.02).all()), (layer, baseline)
