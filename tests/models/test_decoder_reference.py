"""Self-tests of the tiny decoder models and of the independent float64 reference
(``tests/decoder_reference.py``) that the decoder adapters and the fast engine are checked against.

Everything here fails if the reference is wrong: completeness, exact causal / window zeros, the
replayed layer equal to the model's own forward, u = concat_h o^h recomputed by hand from the
HF submodules, and the float64 patches doing something and being undone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import decoder_reference as R
from tiny_models import DECODER_FAMILIES, WINDOW, build_tiny_model

SENTENCE = "She walked to the market on Monday and bought apples and bread."
ALL = DECODER_FAMILIES + ("gpt2", "modernbert")
SLIDING = {"mistral": 0, "qwen2": 1, "qwen3": 1, "gemma2": 0, "gemma3_text": 0, "gemma3": 0, "modernbert": 1}
GL32 = R.gauss_legendre(32)


pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """family -> (folder, reference model, input ids, z list, own-output list)."""
    from transformers import AutoTokenizer

    cache = {}

    def get(family):
        if family not in cache:
            folder = tmp_path_factory.mktemp(f"dec-{family}")
            if family == "modernbert":  # the existing tiny ModernBERT (MiniLM tokenizer) as it is
                build_tiny_model(family, folder)
            else:
                build_tiny_model(family, folder, tokenizer="bytelevel" if family == "gpt2" else None)
            ids = AutoTokenizer.from_pretrained(folder)(SENTENCE)["input_ids"]
            model = R.reference_model(folder)
            z, out, _ = R.block_io(model, ids)
            cache[family] = (folder, model, ids, z, out)
        return cache[family]

    return get


# ---------------------------------------------------------------------------------------------
# the tiny models and tokenizers
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", DECODER_FAMILIES + ("gpt2",))
def test_tiny_decoder_loads_offline_with_its_tokenizer(built, family):
    from transformers import AutoModel, AutoTokenizer

    folder = built(family)[0]
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder)
    assert model.config._attn_implementation == "eager"
    assert next(model.parameters()).dtype == torch.float32
    enc = tok(SENTENCE, return_offsets_mapping=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"])
    words = enc.word_ids()
    assert 12 <= len(tokens) <= 16
    assert 2 * WINDOW < len(tokens)
    if family == "gpt2":
        assert words[0] == 0 and "Ġwalked" in tokens  # nothing added; byte-level Ġ
    elif family.startswith("gemma"):
        assert tokens[0] == "<bos>" and words[0] is None and "▁walked" in tokens
    else:
        assert tokens[0] == "<s>" and words[0] is None and "Ġwalked" in tokens
    # byte-level's regex makes "." a word of its own; Metaspace splits at spaces only
    extra = 0 if family.startswith("gemma") else 1
    assert len(set(w for w in words if w is not None)) == len(SENTENCE.split()) + extra
    for (start, end), t in zip(enc["offset_mapping"], tokens):
        assert 0 <= start <= end <= len(SENTENCE)
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == SENTENCE
    for hostile in ("The party was 🎉🔥 great", "漢字 and émigré"):  # byte-level / byte fallback
        ids = tok(hostile)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids, skip_special_tokens=True) == hostile
    if family.startswith("gemma"):
        assert "<0xF0>" in tok.convert_ids_to_tokens(tok("🎉")["input_ids"])
    config = getattr(model.config, "text_config", None) or model.config
    assert config.vocab_size == len(tok) or family == "gemma3"
    if family != "gpt2":
        assert config.num_key_value_heads < config.num_attention_heads
        assert config.head_dim * config.num_attention_heads != config.hidden_size


def test_decoder_config_switches(built):
    from transformers import AutoConfig

    def cfg(family):
        c = AutoConfig.from_pretrained(built(family)[0])
        return getattr(c, "text_config", None) or c

    assert cfg("mistral").sliding_window == WINDOW
    assert cfg("qwen2").layer_types == ["full_attention", "sliding_attention"]
    assert cfg("qwen3").layer_types == ["full_attention", "sliding_attention"]
    for family in ("gemma2", "gemma3_text", "gemma3"):
        assert cfg(family).layer_types == ["sliding_attention", "full_attention"]
        assert cfg(family).query_pre_attn_scalar != cfg(family).head_dim
    assert cfg("gemma2").attn_logit_softcapping == 5.0
    assert cfg("gemma3_text").attn_logit_softcapping is None  # HF's Gemma 3 attention ignores it
    _, model, *_ = built("qwen2")
    assert R.decoder_layers(model)[0].self_attn.k_proj.bias is not None
    for family in ("qwen3", "gemma3_text", "gemma3"):
        assert hasattr(R.decoder_layers(built(family)[1])[0].self_attn, "q_norm")
    assert type(built("gemma3")[1]).__name__ == "Gemma3Model"
    assert hasattr(built("gemma3")[1], "vision_tower")


@pytest.mark.parametrize("family", DECODER_FAMILIES + ("gpt2",))
def test_residual_rms_is_realistic(built, family):
    z = built(family)[3]
    for zl in z:
        rms = zl.pow(2).mean().sqrt().item()
        assert 1.0 < rms < 10.0
    row_rms = z[0].pow(2).mean(-1).sqrt()
    assert row_rms.max() / row_rms.min() > 1.3  # rows differ: their α* differ


# ---------------------------------------------------------------------------------------------
# the reference's machinery
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ALL)
def test_replayed_layer_equals_the_model(built, family):
    """At α = 1 the reference's layer is the model's block: equal to the patched forward exactly,
    and to HF's own (unpatched, float32 norms) float64 forward to ~1e-6."""
    folder, model, ids, z, out = built(family)
    n = len(z)
    with torch.no_grad():
        hf = model(input_ids=torch.tensor([ids]), output_hidden_states=True, use_cache=False).hidden_states
    for l in range(n):
        y = R.layer_forward(model, l, z[l][None])[0]
        assert torch.equal(y, out[l])
        if l + 1 < n:  # the last entry of hidden_states is after the final norm
            rel = ((y - hf[l + 1][0]).norm() / hf[l + 1][0].norm()).item()
            assert rel < 1e-5
            assert torch.equal(z[l + 1], out[l])
        rel_in = ((z[l] - hf[l][0]).norm() / hf[l][0].norm()).item()
        assert rel_in < 1e-5


def test_float64_patches_matter_and_are_undone(built):
    _, model, ids, z, _ = built("gemma3_text")
    softmax = F.softmax
    layer = R.decoder_layers(model)[0]
    x = z[0][None]
    call = R.layer_call(model, 0, x.shape[1])
    with torch.no_grad():
        plain = call(x)
        with R.float64_patches(model):
            assert F.softmax is not softmax
            patched = call(x)
    assert F.softmax is softmax
    assert "forward" not in layer.input_layernorm.__dict__
    diff = ((plain - patched).norm() / patched.norm()).item()
    assert 1e-12 < diff < 1e-5


def test_mask_semantics(built):
    """Which keys a query sees: causal; sliding = the WINDOW keys j-W+1..j; ModernBERT local =
    |i - j| <= local_attention // 2 (bidirectional)."""
    for family, layer in SLIDING.items():
        _, model, ids, *_ = built(family)
        T = len(ids)
        mask = R.attention_mask(model, layer, T)
        visible = mask > torch.finfo(torch.float64).min / 2
        i = torch.arange(T)
        if family == "modernbert":
            want = (i[None, :] - i[:, None]).abs() <= 4
        else:
            want = (i[None, :] <= i[:, None]) & (i[None, :] > i[:, None] - WINDOW)
        assert torch.equal(visible, want), family
    _, model, ids, *_ = built("llama")
    visible = R.attention_mask(model, 1, len(ids)) > -1e300
    assert torch.equal(visible, torch.ones(len(ids), len(ids), dtype=torch.bool).tril())


def _manual_u(model, l, z, mask):
    """u = concat_h o^h recomputed from the layer's submodules (Llama-style attention)."""
    layer = R.decoder_layers(model)[l]
    attn = layer.self_attn
    config = R.text_config(model)
    H, d = R.heads_and_width(model)
    Hkv = config.num_key_value_heads
    with torch.no_grad(), R.float64_patches(model):
        x = layer.input_layernorm(z)
        T = z.shape[0]
        q = attn.q_proj(x).view(T, H, d).transpose(0, 1)
        k = attn.k_proj(x).view(T, Hkv, d).transpose(0, 1)
        v = attn.v_proj(x).view(T, Hkv, d).transpose(0, 1)
        if hasattr(attn, "q_norm"):
            q, k = attn.q_norm(q), attn.k_norm(k)
        call = R.layer_call(model, l, T)
        cos, sin = call.kwargs["position_embeddings"]
        cos, sin = cos[0], sin[0]
        rot = lambda t: torch.cat((-t[..., d // 2:], t[..., : d // 2]), -1)  # noqa: E731
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(H // Hkv, 0), v.repeat_interleave(H // Hkv, 0)
        scale = getattr(config, "query_pre_attn_scalar", None) or d
        s = q @ k.transpose(1, 2) / math.sqrt(scale)
        cap = getattr(config, "attn_logit_softcapping", None)
        if cap:
            s = torch.tanh(s / cap) * cap
        p = torch.softmax(s + mask, -1)
        return (p @ v).transpose(0, 1).reshape(T, H * d)


@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3", "gemma2", "gemma3_text"])
def test_u_is_concat_of_query_head_contexts(built, family):
    """The o_proj input the reference reads is concat_h o^h (GQA: h uses kv head h // (H/H_kv);
    Gemma 2/3 scale by query_pre_attn_scalar, soft-cap before the mask)."""
    _, model, ids, z, _ = built(family)
    for l in range(len(z)):
        mask = R.attention_mask(model, l, len(ids))
        u = R.real_u(model, l, z[l])
        want = _manual_u(model, l, z[l], mask)
        assert torch.allclose(u, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2", "modernbert"])
def test_itb_value_is_position_free(built, family):
    """With every row equal to z_j the o_proj input is the same on every row (RoPE or not)."""
    _, model, ids, z, _ = built(family)
    j = len(ids) // 2
    x = z[1][j].expand_as(z[1]).clone()
    u = R.real_u(model, 1, x)
    assert torch.allclose(u, u[j].expand_as(u), rtol=0, atol=1e-12)
    assert torch.equal(R.att_itb_a0(model, 1, z[1], j), u[j])


# ---------------------------------------------------------------------------------------------
# completeness and exact zeros
# ---------------------------------------------------------------------------------------------

def _targets(T):
    return [T // 2, T - 1]


@pytest.mark.parametrize("family", ALL)
def test_itb_completeness(built, family):
    _, model, ids, z, _ = built(family)
    T = len(ids)
    layer = SLIDING.get(family, 1)
    for j in _targets(T):
        s, L = R.layer_route(model, layer, z[layer], j, "self_input_token", *GL32)
        assert L > 0 and abs(s.sum() / L - 1) < 1e-3
        assert s[j] == 0.0  # the ITB self score is exactly 0
        a, La = R.att_route(model, layer, z[layer], j, "self_input_token", *GL32)
        assert a.shape == (T, R.heads_and_width(model)[0]) and np.all(La > 0)
        assert np.all(np.abs(a.sum(0) / La - 1) < 1e-3)
        assert np.all(a[j] == 0.0)
        m, Lm = R.mlp_route(model, layer, z[layer], j, "att_itb_a0", *GL32)
        assert m.shape == (R.heads_and_width(model)[0],) and abs(m.sum() / Lm - 1) < 1e-3


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma", "gemma3", "gpt2"])
def test_zero_completeness_with_log_panels(built, family):
    """Zero paths: the integrand lives at α ≲ sqrt(eps/ms) (and, with Gemma 2/3's post-attention
    norm, far below): 8 Gauss–Legendre nodes per decade of α down to 1e-14 converge."""
    _, model, ids, z, _ = built(family)
    rule = R.log_panels_rule(1e-14, 8)
    T = len(ids)
    j = T - 2
    layer = SLIDING.get(family, 1)
    s, L = R.layer_route(model, layer, z[layer], j, "zero", *rule)
    assert abs(s.sum() / L - 1) < 2e-3
    a, La = R.att_route(model, layer, z[layer], j, "zero", *rule)
    assert np.all(np.abs(a.sum(0) / La - 1) < 2e-3)
    m, Lm = R.mlp_route(model, layer, z[layer], j, "zero", *rule)
    assert abs(m.sum() / Lm - 1) < 2e-3
    # plain Gauss–Legendre on [0, 1] misses the zero path's near-0 mass of the att route
    a32, _ = R.att_route(model, layer, z[layer], j, "zero", *GL32)
    assert np.max(np.abs(a32.sum(0) / La - 1)) > 0.05


def test_gemma3_zero_layer_needs_deep_nodes(built):
    """Gemma 3's post-attention norm re-normalises the attention output, so the layer route's
    zero-path mass reaches far below the first norm's α*: a single log-GL rule of 64 nodes over
    [1e-10, 1] misses a quarter of it; the panel rule does not."""
    _, model, ids, z, _ = built("gemma3")
    j = len(ids) - 2
    s, L = R.layer_route(model, 0, z[0], j, "zero", *R.log_gauss_legendre(64, 1e-10))
    p, _ = R.layer_route(model, 0, z[0], j, "zero", *R.log_panels_rule(1e-14, 8))
    assert abs(p.sum() / L - 1) < 2e-3
    assert abs(s.sum() / L - 1) > 0.05


@pytest.mark.parametrize("family", DECODER_FAMILIES + ("gpt2",))
@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_causal_zeros_exact(built, family, baseline):
    _, model, ids, z, _ = built(family)
    T = len(ids)
    j = T // 2
    for layer in range(len(z)):
        s, _ = R.layer_route(model, layer, z[layer], j, baseline, *R.gauss_legendre(4))
        a, _ = R.att_route(model, layer, z[layer], j, baseline, *R.gauss_legendre(4))
        assert np.all(s[j + 1:] == 0.0) and np.any(s[:j] != 0.0)
        assert np.all(a[j + 1:] == 0.0) and np.any(a[:j] != 0.0)


@pytest.mark.parametrize("family", sorted(SLIDING))
@pytest.mark.parametrize("baseline", ["zero", "self_input_token"])
def test_sliding_window_zeros_exact(built, family, baseline):
    _, model, ids, z, _ = built(family)
    T = len(ids)
    layer = SLIDING[family]
    j = T - 1 if family != "modernbert" else T // 2
    i = np.arange(T)
    if family == "modernbert":
        inside = np.abs(i - j) <= 4
    else:
        inside = (i <= j) & (i > j - WINDOW)
    rule = R.gauss_legendre(4)
    a, _ = R.att_route(model, layer, z[layer], j, baseline, *rule)
    s, _ = R.layer_route(model, layer, z[layer], j, baseline, *rule)
    assert np.all(a[~inside] == 0.0) and np.all(s[~inside] == 0.0)
    others = inside & (i != j)
    assert np.all(np.any(a[others] != 0.0, axis=1))


def test_maps_have_method_layouts(built):
    _, model, ids, z, _ = built("qwen3")
    T = len(ids)
    H = R.heads_and_width(model)[0]
    rule = R.gauss_legendre(4)
    targets = [3, T - 1]
    s, L = R.layer_map(model, 1, z[1], "self_input_token", *rule, targets=targets)
    a, La = R.att_map(model, 1, z[1], "self_input_token", *rule, targets=targets)
    m, Lm = R.mlp_map(model, 1, z[1], "zero", *rule, targets=targets)
    assert s.shape == (T, T) and L.shape == (T,)
    assert a.shape == (H, T, T) and La.shape == (H, T)
    assert m.shape == (T, H) and Lm.shape == (T,)
    one, _ = R.att_route(model, 1, z[1], 3, "self_input_token", *rule)
    assert np.array_equal(a[:, :, 3], one.T)
    maps = R.all_maps(model, 1, z[1], *rule, targets=targets)
    assert len(maps) == 6 and R.rel_frobenius(maps[("att", "self_input_token")][0], a) == 0.0
    assert R.rel_frobenius(maps[("layer", "zero")][0], s) > 0.01
    assert np.all(s[:, 0] == 0) and np.all(a[:, :, 0] == 0)


def test_first_token_itb_is_empty_and_gradient_free(built):
    """A decoder's first token under ITB: f(x(α)) == f(x') at every node, L = 0, scores 0."""
    _, model, ids, z, _ = built("gpt2")
    s, L = R.layer_route(model, 0, z[0], 0, "self_input_token", *GL32)
    assert L == 0.0 and np.all(s == 0.0)
    a, La = R.att_route(model, 0, z[0], 0, "self_input_token", *GL32)
    assert np.all(La == 0.0) and np.all(a == 0.0)


def test_bad_baselines_rejected(built):
    _, model, ids, z, _ = built("llama")
    with pytest.raises(ValueError):
        R.mlp_route(model, 0, z[0], 3, "self_input_token", *GL32)
    with pytest.raises(ValueError):
        R.layer_route(model, 0, z[0], 3, "att_itb_a0", *GL32)


def test_engine_model_is_not_changed(built):
    """Passing a float32 model gives a float64 copy, made once; the original stays float32."""
    from transformers import AutoModel

    folder, _, ids, z, _ = built("mistral")
    model = AutoModel.from_pretrained(folder)
    ref = R.reference_model(model)
    assert R.reference_model(model) is ref and ref is not model
    assert next(model.parameters()).dtype == torch.float32
    assert next(ref.parameters()).dtype == torch.float64
    s, L = R.layer_route(model, 0, z[0], 5, "self_input_token", *R.gauss_legendre(4))
    assert np.isfinite(s).all() and L > 0


def test_rope_modes_agree(built):
    """cos/sin in float64 (default) vs HF's float32 angles: close, not equal."""
    _, model, ids, z, _ = built("llama")
    T = len(ids)
    c64 = R.layer_call(model, 1, T, "float64").kwargs["position_embeddings"][0]
    chf = R.layer_call(model, 1, T, "hf").kwargs["position_embeddings"][0]
    assert c64.dtype == chf.dtype == torch.float64
    assert 0 < (c64 - chf).abs().max().item() < 1e-6
    a, _ = R.att_route(model, 1, z[1], T - 1, "self_input_token", *R.gauss_legendre(4), rope="hf")
    b, _ = R.att_route(model, 1, z[1], T - 1, "self_input_token", *R.gauss_legendre(4))
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 1e-6


@pytest.mark.parametrize("family", ["qwen2", "gemma2", "gpt2", "modernbert"])
def test_attention_probs(built, family):
    _, model, ids, z, _ = built(family)
    layer = SLIDING.get(family, 1)
    p = R.attention_probs(model, layer, z[layer])
    T = len(ids)
    assert p.shape == (R.heads_and_width(model)[0], T, T) and p.dtype == torch.float64
    assert torch.allclose(p.sum(-1), torch.ones(p.shape[:2], dtype=torch.float64), atol=1e-12)
    visible = R.attention_mask(model, layer, T) > torch.finfo(torch.float64).min / 2
    assert torch.all(p[:, ~visible] == 0)


@pytest.mark.parametrize("family", ["mistral", "gemma3"])
def test_batched_nodes_do_not_mix(built, family):
    """The nodes batched in the batch axis give the same as one node at a time."""
    _, model, ids, z, _ = built(family)
    j = len(ids) - 1
    n, w = R.gauss_legendre(3)
    for route, baseline in ((R.layer_route, "zero"), (R.att_route, "self_input_token"), (R.mlp_route, "zero")):
        batched, L = route(model, 0, z[0], j, baseline, n, w)
        single = sum(route(model, 0, z[0], j, baseline, n[k:k + 1], w[k:k + 1])[0] for k in range(3))
        assert np.allclose(batched, single, rtol=1e-12, atol=1e-13)
