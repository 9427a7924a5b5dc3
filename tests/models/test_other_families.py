"""ALBERT, MPNet and Switch (issue 10) at every granularity, against their own HF layer modules.

The reference (tests/family_reference.py) calls each family's HF layer with the arguments the
model's real float64 forward passed it, per target, nodes batched, autograd; the engine runs its
fast path (projection space for ALBERT / MPNet, tangents for Switch). Both get the same block
input z (the engine's forward cache) and the same nodes (``nodes_for``). Switch's reference has
its routers patched to the real input's expert choice and its T5 norms computed in float64.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

import family_checks as checks
import family_reference as ref
from ligsite.models.loading import load
from route_runs import auto_runs
from tiny_models import SWITCH_EXPERTS

TEXT = "the cat sat on the mat, and the cat slept"
STEPS = 6
FAMILIES = ("albert", "mpnet", "switch_transformers")
F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def _reference(family: str, folder) -> tuple[list[ref.LayerCall], list[torch.Tensor], dict]:
    """Per block the HF layer call (float64, eager), the reference's own block inputs, extras."""
    import transformers as tf

    if family == "switch_transformers":
        model = tf.SwitchTransformersEncoderModel.from_pretrained(folder, attn_implementation="eager", dtype=F64)
    else:
        model = tf.AutoModel.from_pretrained(folder, attn_implementation="eager", dtype=F64)
    model.eval().requires_grad_(False)
    config = model.config
    heads, head_dim = config.num_attention_heads, config.hidden_size // config.num_attention_heads
    extras, patches = {"model": model}, contextlib.nullcontext
    if family == "albert":
        groups, per = model.encoder.albert_layer_groups, config.num_hidden_layers / config.num_hidden_groups
        layers = [groups[int(i / per)].albert_layers[0] for i in range(config.num_hidden_layers)]
        out = lambda layer: layer.attention.dense  # noqa: E731
    elif family == "mpnet":
        layers, out = list(model.encoder.layer), lambda layer: layer.attention.attn.o
    else:
        layers, out = list(model.encoder.block), lambda layer: layer.layer[0].SelfAttention.o
        head_dim = config.d_kv
        choices = _real_choices(model, layers, _ids(folder))
        extras["choices"] = choices
        patches = lambda: _switch_patches(model, layers, choices)  # noqa: E731
    # the reference's own real forward: T5 norms in float64, routers as they are
    real = (lambda: _switch_patches(model, layers, None)) if family == "switch_transformers" else patches
    calls = ref.capture(model, layers, _ids(folder), real)
    return ([ref.LayerCall(layers[l], a, k, out(layers[l]), heads, head_dim, patches) for l, (a, k, _) in enumerate(calls)],
            [z for _, _, z in calls], extras)


def _ids(folder) -> torch.Tensor:
    from transformers import AutoTokenizer

    return torch.tensor(AutoTokenizer.from_pretrained(folder)(TEXT)["input_ids"])


def _real_choices(model, layers, input_ids: torch.Tensor) -> list[torch.Tensor]:
    """Each block's top-1 expert per token [T] on the real input (float64 norms, real router)."""
    seen, handles = {}, []
    for index, block in enumerate(layers):
        def hook(module, args, output, index=index):
            seen[index] = output[0][0].argmax(-1)  # dispatch one-hot [T, E]; capacity never binds here

        handles.append(block.layer[-1].mlp.router.register_forward_hook(hook))
    try:
        with torch.no_grad(), _switch_patches(model, layers, None):
            model(input_ids=input_ids[None])
    finally:
        for h in handles:
            h.remove()
    return [seen[i] for i in range(len(layers))]


@contextlib.contextmanager
def _switch_patches(model, layers, choices):
    """T5 norms in float64; with ``choices``, every router dispatches to the given experts."""
    import torch.nn.functional as F

    patched = []

    def rms(module):
        return lambda x: module.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + module.variance_epsilon))

    for module in model.modules():
        if type(module).__name__ == "SwitchTransformersLayerNorm":
            module.forward = rms(module)
            patched.append(module)
    if choices is not None:
        for block, choice in zip(layers, choices, strict=True):
            router = block.layer[-1].mlp.router

            def forward(hidden, router=router, choice=choice):
                logits = F.linear(hidden, router.classifier.weight.to(hidden.dtype))  # [N, T, E]
                probs = logits.softmax(-1)
                dispatch = F.one_hot(choice, router.num_experts).to(hidden.dtype).expand_as(probs)
                return dispatch.long(), (probs * dispatch).sum(-1, keepdim=True), logits

            router.forward = forward
            patched.append(router)
    try:
        yield
    finally:
        for module in patched:
            module.__dict__.pop("forward", None)


@pytest.fixture(scope="module")
def models(tiny_model_dir):
    """family -> (adapter float64, forward cache, reference calls, reference block inputs, extras)."""
    out = {}
    for family in FAMILIES:
        folder = tiny_model_dir(family)
        adapter = load(str(folder), "cpu", "float64")
        ids = adapter.tokenize(TEXT).input_ids
        cache = adapter.forward(ids)
        out[family] = (adapter, cache, *_reference(family, folder))
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_block_inputs_contexts_and_outputs_equal_the_hf_layers(models, family):
    """z(l), the per-head contexts (input of the output projection) and z(l+1) are HF's."""
    adapter, cache, calls, z_ref, _ = models[family]
    precise = family != "switch_transformers"  # ligsite's forward runs HF's float32 T5 norms
    checks.block_matches_hf_layers(adapter, cache, calls, z_ref, 1e-12 if precise else 1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_routes_equal_the_hf_layer_reference(models, family):
    adapter, cache, calls, _, _ = models[family]
    checks.routes_match_reference(adapter, cache, calls, STEPS)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_fast_path_equals_the_plain_path(models, family, baseline):
    """Projection-space (ALBERT, MPNet) or tangent (Switch) path vs interpolated block inputs: 1e-9."""
    adapter, cache, *_ = models[family]
    targets = torch.arange(len(cache.input_ids))
    for layer in range(adapter.n_layers):
        block, z = adapter.block(layer), cache.z[layer]
        assert block.affine_project or block.rowwise_project
        checks.fast_equals_plain(block, z, targets, baseline, STEPS)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_target_meets_completeness_at_auto(models, family):
    adapter, cache, *_ = models[family]
    for layer, granularity, baseline, run in auto_runs(adapter, cache):
        off = (run.ratio - 1).abs()
        assert bool((off[~off.isnan()] <= 0.02).all()), (layer, granularity, baseline)


def test_albert_blocks_share_one_layer_and_z0_follows_the_embedding_projection(models):
    adapter, cache, _, _, extras = models["albert"]
    model = extras["model"]
    assert adapter.layers()[0] is adapter.layers()[1] and adapter.n_layers == 2
    with torch.no_grad():
        embedded = adapter.model.embeddings(input_ids=cache.input_ids[None])  # [1, T, E=16]
        mapped = adapter.model.encoder.embedding_hidden_mapping_in(embedded)[0]  # [T, D=32]
    assert embedded.shape[-1] == 16 and mapped.shape[-1] == adapter.hidden_size == 32
    torch.testing.assert_close(cache.z[0], mapped, rtol=0, atol=1e-12)
    torch.testing.assert_close(cache.z[1], cache.z_next[0], rtol=0, atol=0)
    assert (cache.z[1] - cache.z[0]).abs().max() > 1e-2  # the same weights, different blocks
    assert model.config.model_type == adapter.model_type == "albert"


def test_mpnet_bias_is_the_encoders_relative_position_bias(models):
    adapter, cache, *_ = models["mpnet"]
    block, z = adapter.block(1), cache.z[1]
    with torch.no_grad():
        expected = adapter.model.encoder.compute_position_bias(z[None])[0]  # [H, T, T]
    torch.testing.assert_close(block.bias, expected, rtol=0, atol=0)
    assert block.bias.std() > 1e-2  # a real bias: without it the attention differs
    probs = block.attend(*block.project(z), torch.arange(z.shape[0]))
    block.bias = None
    assert (block.attend(*block.project(z), torch.arange(z.shape[0])) - probs).abs().max() > 1e-4


def test_switch_experts_are_the_real_choice_and_held_fixed_along_the_path(models):
    adapter, cache, _, _, extras = models["switch_transformers"]
    assert type(adapter.model).__name__ == "SwitchTransformersEncoderModel"
    used = set()
    for layer in range(adapter.n_layers):
        block, z = adapter.block(layer), cache.z[layer]
        moe = block.parts.moe
        assert moe is not None and len(moe.experts) == SWITCH_EXPERTS
        assert torch.equal(moe.choice, extras["choices"][layer])  # the reference's own float64 choice
        used |= set(moe.choice.tolist())
        for alpha in (1e-6, 0.3, 1.0):  # every path's residual row is a multiple of z_j
            assert torch.equal(moe.choice_of(alpha * z), moe.choice)
        # the router's probability stays differentiable: the FFN's Jacobian sees it
        x = z.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(moe(x, moe.choice).sum(), x)
        assert grad.abs().sum() > 0
    assert len(used) > 1  # several experts in use


@pytest.mark.parametrize(("groups", "inner", "layers"), [(2, 1, 4), (1, 2, 2), (2, 2, 4)])
def test_albert_groups_and_inner_layers_unroll_into_blocks(groups, inner, layers):
    """Block l is the l-th AlbertLayer call: groups of shared layers, inner layers one block each."""
    import transformers as tf

    from ligsite.models.albert import AlbertAdapter

    config = tf.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=layers,
                             num_attention_heads=4, intermediate_size=64, num_hidden_groups=groups,
                             inner_group_num=inner, attn_implementation="eager")
    torch.manual_seed(0)
    model = tf.AlbertModel(config).eval().to(F64)
    adapter = AlbertAdapter(model, None, "albert-groups", "albert-groups", F64)
    cache = adapter.forward(torch.arange(3, 12))
    with torch.no_grad():
        last = model(input_ids=torch.arange(3, 12)[None]).last_hidden_state[0]
    assert adapter.n_layers == layers * inner == len(cache.z)
    for l in range(adapter.n_layers):
        torch.testing.assert_close(adapter.block(l).layer(cache.z[l]), cache.z_next[l], rtol=0, atol=1e-12)
        if l + 1 < adapter.n_layers:
            assert torch.equal(cache.z[l + 1], cache.z_next[l])
    torch.testing.assert_close(cache.z_next[-1], last, rtol=0, atol=1e-12)
    assert len({id(m) for m in adapter.layers()}) == groups * inner


def test_switch_explanation_records_each_tokens_expert_and_dense_models_record_none(models, tiny_model_dir):
    """The fixed routing travels with the result (settings.routing, schema minor 2): the rule and,
    per computed layer, the expert each token used on the real input; dense models write no key."""
    from ligsite.api import explain
    from ligsite.explanation import Explanation

    adapter, _, _, _, extras = models["switch_transformers"]
    exp = explain(TEXT, model=adapter, steps=2, layers=[1, 0], granularity="layer", baselines={"layer": ["zero"]})
    assert exp.routing["rule"] == adapter.routing and "real input" in exp.routing["rule"]
    assert exp.routing["experts"] == [extras["choices"][layer].tolist() for layer in exp.layers]  # its layer order
    assert len(exp.routing["experts"][0]) == len(exp.tokens)
    doc = exp.to_dict()
    assert doc["schema_minor"] == 2 and doc["settings"]["routing"] == exp.routing
    assert Explanation.from_dict(doc).routing == exp.routing
    dense = explain(TEXT, model=str(tiny_model_dir("albert")), steps=2, layers=[0], granularity="layer",
                    baselines={"layer": ["zero"]})
    assert dense.routing is None and "routing" not in dense.to_dict()["settings"]
    assert Explanation.from_dict(dense.to_dict()).routing is None
