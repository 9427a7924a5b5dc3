"""ModernBERT: a bidirectional pre-LN encoder with RoPE and alternating global / local attention.

    x̂ = attn_norm(z)               LayerNorm (identity in block 0, whose row map is then affine)
    q, k, v = split(Wqkv(x̂)), RoPE from the layer's rotary tables (local and global bases differ)
    u_j = attention over the keys of the layer's mask (all, or a window around j)
    r = z + Wo(u);  z(l+1) = r + mlp(mlp_norm(r))
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ligsite.models.prenorm import PreNormAdapter, PreNormParts


class ModernBertAdapter(PreNormAdapter):
    """``layers[l]`` (ModernBertEncoderLayer)."""

    family = "modernbert"

    def layers(self) -> Sequence[nn.Module]:
        return self.model.layers

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.attn

    def parts(self, module: nn.Module) -> PreNormParts:
        h, d = self.n_heads, self.head_dim

        def qkv(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            return module.attn.Wqkv(x).unflatten(-1, (3, h, d)).unbind(-3)  # 3 x [..., T, H, d]

        return PreNormParts(norm1=module.attn_norm, qkv=qkv, out=module.attn.Wo, norm2=module.mlp_norm,
                            ffn=module.mlp, n_heads=h, n_kv_heads=h, head_dim=d, scale=d**-0.5)
