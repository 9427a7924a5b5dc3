"""Gemma 1/2/3 decoders: the Llama layout with Gemma's norms, post-norms and soft-capping.

    norms scale by 1 + w (GemmaRMSNorm), computed in the run's dtype
    Gemma 1:   r = z + o_proj(u);              z(l+1) = r + mlp(post_attention_layernorm(r))
    Gemma 2/3: r = z + P_a(o_proj(u));         z(l+1) = r + P_f(mlp(pre_feedforward_layernorm(r)))
               P_a = post_attention_layernorm, P_f = post_feedforward_layernorm
    scores scaled by query_pre_attn_scalar^-1/2 (Gemma 2/3), soft-capped by
    attn_logit_softcapping where set (Gemma 2 only); Gemma 3 adds q/k norms and alternates sliding and global
    layers with two rotary bases (both come with the layer's real call).

``gemma3`` (the multimodal checkpoint) is explained on its text stack, ``language_model``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ligsite.models.hf import Dims
from ligsite.models.llama import attention_qkv, decoder_dims
from ligsite.models.prenorm import PreNormAdapter, PreNormParts


def text_config(config):
    """The text stack's config (``gemma3`` nests it as ``text_config``)."""
    return getattr(config, "text_config", None) or config


class GemmaAdapter(PreNormAdapter):
    """``layers[l]`` of GemmaModel, Gemma2Model, Gemma3TextModel, or Gemma3Model's language model."""

    family = "gemma"

    @classmethod
    def dims(cls, config) -> Dims:
        return decoder_dims(text_config(config))

    @classmethod
    def is_causal(cls, config) -> bool:
        return not bool(getattr(text_config(config), "use_bidirectional_attention", False))

    def layers(self) -> Sequence[nn.Module]:
        stack = getattr(self.model, "language_model", None) or self.model
        return stack.layers

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.self_attn

    def parts(self, module: nn.Module) -> PreNormParts:
        attn = module.self_attn
        h, d = self.n_heads, self.head_dim
        h_kv = int(getattr(text_config(self.config), "num_key_value_heads", None) or h)
        post_norms = hasattr(module, "pre_feedforward_layernorm")  # Gemma 2/3
        # Only Gemma 2's attention applies attn_logit_softcapping; Gemma 3 keeps the config
        # field but its attention never reads it (transformers' modeling_gemma3).
        softcap = getattr(attn, "attn_logit_softcapping", None) if self.model_type == "gemma2" else None
        return PreNormParts(
            norm1=module.input_layernorm, qkv=attention_qkv(attn, h, h_kv, d), out=attn.o_proj,
            norm2=module.pre_feedforward_layernorm if post_norms else module.post_attention_layernorm,
            ffn=module.mlp, n_heads=h, n_kv_heads=h_kv, head_dim=d, scale=float(attn.scaling),
            q_norm=getattr(attn, "q_norm", None), k_norm=getattr(attn, "k_norm", None),
            post_att=module.post_attention_layernorm if post_norms else None,
            post_ffn=module.post_feedforward_layernorm if post_norms else None,
            softcap=float(softcap) if softcap else None, unit_offset=True,
        )
