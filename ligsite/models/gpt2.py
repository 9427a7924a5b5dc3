"""GPT-2: pre-LN decoder (``h[l]``, a GPT2Block).

    x̂ = ln_1(z);  q, k, v = split(c_attn(x̂))      H heads of width d, biases
    o_j^h = causal attention of head h at j         keys after j masked; no RoPE (positions
                                                    are added before block 0)
    r_j = z_j + c_proj(concat_h o_j^h);  z(l+1)_j = r_j + mlp(ln_2(r_j))

The last block's output is its own, not HF's ``hidden_states[L]`` (which has ``ln_f`` folded in).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ligsite.models.prenorm import PreNormAdapter, PreNormParts, split_heads


class GPT2Adapter(PreNormAdapter):
    """``h[l]`` (GPT2Block)."""

    family = "gpt2"
    rotary = False

    @classmethod
    def is_causal(cls, config) -> bool:
        return True

    def layers(self) -> Sequence[nn.Module]:
        return self.model.h

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.attn

    def call_mask(self, args: tuple, kwargs: dict) -> Tensor | None:
        return None  # causal, no windows: the mask is the causal one (padding never occurs)

    def parts(self, module: nn.Module) -> PreNormParts:
        h, d, width = self.n_heads, self.head_dim, self.hidden_size

        def qkv(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            return tuple(split_heads(y, h, d) for y in module.attn.c_attn(x).split(width, dim=-1))

        return PreNormParts(norm1=module.ln_1, qkv=qkv, out=module.attn.c_proj, norm2=module.ln_2,
                            ffn=module.mlp, n_heads=h, n_kv_heads=h, head_dim=d, scale=float(module.attn.scaling))
