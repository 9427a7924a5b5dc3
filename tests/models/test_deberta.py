"""DeBERTa v1 and v2 (issue 10) at every granularity, against their own HF layer modules.

The reference (tests/family_reference.py) calls each DebertaLayer / DebertaV2Layer with the
arguments of the model's real float64 forward (relative positions, relative embeddings, mask),
per target, nodes batched, autograd; for v2's block 0 the encoder's convolution follows the
layer on the same block input (it is part of LAYER_0, held at the real input in MLP_0). v1's
DebertaLayerNorm computes in float32 even for float64 input: the reference's runs it in
float64 (the engine computes norms in the run's dtype). The engine runs its projection-space
fast path with the relative terms as extra dot-product channels.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

import family_checks as checks
import family_reference as ref
from ligsite.errors import ModelError
from ligsite.lig.completeness import nodes_for
from ligsite.lig.routes import layer_route
from ligsite.models.loading import load
from route_runs import auto_runs

TEXT = "the cat sat on the mat, and the cat slept"
STEPS = 6
FAMILIES = ("deberta-v2-conv", "deberta")
F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@contextlib.contextmanager
def _norms_in_float64(model):
    """v1's DebertaLayerNorm in the input's dtype (HF's casts to float32 first)."""
    patched = []
    for module in model.modules():
        if type(module).__name__ == "DebertaLayerNorm":
            module.forward = lambda x, m=module: m.weight * (x - x.mean(-1, keepdim=True)) / torch.sqrt(
                x.var(-1, unbiased=False, keepdim=True) + m.variance_epsilon) + m.bias
            patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            module.__dict__.pop("forward", None)


def _reference(folder) -> tuple[list[ref.LayerCall], list[torch.Tensor], object]:
    import transformers as tf

    model = tf.AutoModel.from_pretrained(folder, attn_implementation="eager", dtype=F64).eval().requires_grad_(False)
    config, encoder = model.config, model.encoder
    heads = config.num_attention_heads
    patches = lambda: _norms_in_float64(model)  # noqa: E731
    ids = torch.tensor(tf.AutoTokenizer.from_pretrained(folder)(TEXT)["input_ids"])
    calls = ref.capture(model, list(encoder.layer), ids, patches)
    conv = getattr(encoder, "conv", None)
    mask = torch.ones(1, len(ids), dtype=torch.long)
    after = None if conv is None else (lambda X, out: conv(X, out, mask))
    return ([ref.LayerCall(encoder.layer[l], a, k, encoder.layer[l].attention.output.dense, heads,
                           config.hidden_size // heads, patches, after if l == 0 else None)
             for l, (a, k, _) in enumerate(calls)], [z for _, _, z in calls], model)


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    """family -> (adapter float64, forward cache, reference calls, reference block inputs, HF model)."""
    out = {}
    for family in FAMILIES:
        folder = tiny_model_dir(family)
        adapter = load(str(folder), "cpu", "float64")
        cache = adapter.forward(adapter.tokenize(TEXT).input_ids)
        out[family] = (adapter, cache, *_reference(folder))
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_block_inputs_contexts_and_outputs_equal_the_hf_layers(models, family):
    """z(l), the per-head contexts (input of attention.output.dense) and z(l+1) are HF's."""
    adapter, cache, calls, z_ref, _ = models[family]
    assert adapter.granularities == ("att", "mlp", "layer") and adapter.family == "deberta"
    precise = family != "deberta"  # ligsite's forward runs HF's float32 DebertaLayerNorm (v1)
    checks.block_matches_hf_layers(adapter, cache, calls, z_ref, 1e-12 if precise else 1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_routes_equal_the_hf_layer_reference(models, family):
    adapter, cache, calls, _, _ = models[family]
    checks.routes_match_reference(adapter, cache, calls, STEPS)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_fast_path_equals_the_plain_path(models, family, baseline):
    """Projection space with the relative channels (and v2's window) vs interpolated inputs: 1e-9."""
    adapter, cache, *_ = models[family]
    targets = torch.arange(len(cache.input_ids))
    for layer in range(adapter.n_layers):
        block, z = adapter.block(layer), cache.z[layer]
        assert block.affine_project and block.relative is not None
        checks.fast_equals_plain(block, z, targets, baseline, STEPS)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_target_meets_completeness_at_auto(models, family):
    adapter, cache, *_ = models[family]
    for layer, granularity, baseline, run in auto_runs(adapter, cache):
        off = (run.ratio - 1).abs()
        assert bool((off[~off.isnan()] <= 0.02).all()), (layer, granularity, baseline)


@pytest.mark.parametrize("family", FAMILIES)
def test_probabilities_of_content_plus_relative_dots_are_the_models_attention(models, family):
    """The fast path's contract: the content dot products plus ``relative_dots``, given to
    ``probabilities``, are the model's own attention, and ``attend`` is them times v."""
    adapter, cache, *_ = models[family]
    block, z = adapter.block(1), cache.z[1]
    t = z.shape[0]
    q, k, v = block.project(z)  # [T, H, d]
    positions = torch.arange(t)
    relative = block.relative_dots(q, k, positions)  # [T_query, T_key, H, 2]
    content = torch.einsum("jhd,ihd->hji", q, k)  # [H, T_query, T_key]
    probs = block.probabilities(content + relative.sum(-1).permute(2, 0, 1), positions)  # [H, T_query, T_key]
    torch.testing.assert_close(probs, cache.attention[1], rtol=0, atol=1e-12)
    torch.testing.assert_close(torch.einsum("hji,ihd->jhd", probs, v), block.attend(q, k, v, positions),
                               rtol=0, atol=1e-12)
    # both relative terms are real: without them the probabilities differ
    assert float(relative[..., 0].std()) > 1e-2 and float(relative[..., 1].std()) > 1e-2
    assert (block.probabilities(content, positions) - probs).abs().max() > 1e-3


def test_v2_convolution_is_part_of_block_0_and_reads_the_neighbour_rows(models):
    adapter, cache, calls, _, model = models["deberta-v2-conv"]
    assert (adapter.block(0).window, adapter.block(1).window) == (1, 0)
    with torch.no_grad():
        hidden = model(input_ids=cache.input_ids[None], output_hidden_states=True).hidden_states
    torch.testing.assert_close(cache.z_next[0], hidden[1][0], rtol=0, atol=1e-12)
    alone = calls[0].layer(cache.z[0][None], *calls[0].args, **calls[0].kwargs)[0][0]
    assert (alone - cache.z[1]).abs().max() > 1e-2  # the layer module alone is not z(1)
    # with the head outputs u fixed, row j of LAYER_0 still reads rows j-1..j+1 (the convolution)
    block, z = adapter.block(0), cache.z[0]
    u = block.attend(*block.project(z), torch.arange(z.shape[0])).flatten(-2)  # [T, H*d]
    x = z.clone().requires_grad_(True)
    rows = torch.nn.functional.pad(x, (0, 0, 1, 1)).unfold(0, 3, 1).transpose(-1, -2)  # [T, 3, D]
    (grad,) = torch.autograd.grad(block.finish(u, rows)[4].sum(), x)
    assert (grad.abs().sum(-1) > 0).nonzero().flatten().tolist() == [3, 4, 5]
    nodes, weights = nodes_for("layer", block, z, "self_input_token", "gauss-legendre", STEPS)
    scores, _ = layer_route(block, z, torch.arange(z.shape[0]), "self_input_token", nodes, weights)  # [J, T]
    assert torch.all(torch.diagonal(scores) == 0.0)  # ITB: the self score is exactly 0


def test_talking_heads_are_refused():
    import transformers as tf

    from ligsite.models.deberta import DebertaAdapter

    config = tf.DebertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                              intermediate_size=64, relative_attention=True, pos_att_type=["c2p", "p2c"],
                              talking_head=True)
    model = tf.DebertaModel(config)
    with pytest.raises(ModelError, match="talking heads"):
        DebertaAdapter(model, None, "deberta-talking", "deberta-talking", F64)


def test_relative_dots_gather_rows_or_score_the_table_alike():
    """Few queries gather table rows, many score every query (key) against the table first: the
    same dot products either way."""
    from ligsite.models.deberta import _key_side, _query_side

    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(3, 5, 4, 8, generator=g, dtype=F64), torch.randn(3, 7, 4, 8, generator=g, dtype=F64)
    for rows in (40, 4):  # 40 >= Q·d: rows gathered; 4: table scored first
        table = torch.randn(rows, 4, 8, generator=g, dtype=F64)
        index = torch.randint(0, rows, (3, 5, 7), generator=g)  # [..., Q, T]
        expected_q = torch.einsum("...qhd,...qthd->...qth", q, table[index])  # [..., Q, T, H]
        expected_k = torch.einsum("...thd,...qthd->...qth", k, table[index])
        torch.testing.assert_close(_query_side(q, table, index), expected_q, rtol=0, atol=1e-12)
        torch.testing.assert_close(_key_side(k, table, index), expected_k, rtol=0, atol=1e-12)
