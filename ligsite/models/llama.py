"""Llama-layout decoders: Llama, Mistral, Qwen2, Qwen3 (``layers[l]``, a LlamaDecoderLayer shape).

    x̂ = input_layernorm(z)                      RMSNorm
    q, k, v = q_proj, k_proj, v_proj (x̂)        biases in Qwen2; H_kv ≤ H key/value heads
    q, k ← q_norm, k_norm per head (Qwen3), then RoPE from the model's rotary tables
    r = z + o_proj(u);  z(l+1) = r + mlp(post_attention_layernorm(r))

Sliding windows (Mistral, Qwen2/3 where the config enables them) come with the layer's mask.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ligsite.models.hf import Dims
from ligsite.models.prenorm import PreNormAdapter, PreNormParts, split_heads


def decoder_dims(config, n_layers_key: str = "num_hidden_layers") -> Dims:
    """Sizes of a decoder config (head_dim from the config where it has one)."""
    heads = int(config.num_attention_heads)
    head_dim = getattr(config, "head_dim", None) or int(config.hidden_size) // heads
    return Dims(int(getattr(config, n_layers_key)), heads, int(head_dim), int(config.hidden_size),
                int(config.max_position_embeddings))


def attention_qkv(attn: nn.Module, n_heads: int, n_kv_heads: int, head_dim: int):
    """q [..., T, H, d], k, v [..., T, H_kv, d] of a module with q_proj / k_proj / v_proj."""

    def qkv(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return (split_heads(attn.q_proj(x), n_heads, head_dim), split_heads(attn.k_proj(x), n_kv_heads, head_dim),
                split_heads(attn.v_proj(x), n_kv_heads, head_dim))

    return qkv


class LlamaAdapter(PreNormAdapter):
    """``layers[l]`` with ``self_attn`` and ``mlp``; one adapter for the Llama layout."""

    family = "llama"

    @classmethod
    def dims(cls, config) -> Dims:
        return decoder_dims(config)

    @classmethod
    def is_causal(cls, config) -> bool:
        return True

    def layers(self) -> Sequence[nn.Module]:
        return self.model.layers

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.self_attn

    def parts(self, module: nn.Module) -> PreNormParts:
        attn = module.self_attn
        h, d = self.n_heads, self.head_dim
        h_kv = int(getattr(self.config, "num_key_value_heads", None) or h)
        return PreNormParts(
            norm1=module.input_layernorm, qkv=attention_qkv(attn, h, h_kv, d), out=attn.o_proj,
            norm2=module.post_attention_layernorm, ffn=module.mlp, n_heads=h, n_kv_heads=h_kv, head_dim=d,
            scale=float(attn.scaling), q_norm=getattr(attn, "q_norm", None), k_norm=getattr(attn, "k_norm", None),
        )


