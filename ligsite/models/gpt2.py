"""GPT-2: pre-LN decoder.

    project(z)   = split(c_attn(LN1(z)))                 not affine in z (LN1 per node)
    o_j^h        = causal attention of head h at j       keys after j masked
    r_j          = z_j + c_proj(concat_h o_j^h)
    z(l+1)_j     = r_j + MLP(LN2(r_j))

The last block's output is its own, not HF's ``hidden_states[L]`` (which has ``ln_f`` folded in).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ligsite.models.attention import all_positions, attend
from ligsite.models.base import GRANULARITIES
from ligsite.models.hf import HFAdapter


class GPT2Block:
    """project / attend / finish of one GPT2Block (see ``ligsite.models.base``)."""

    granularities = GRANULARITIES
    affine_project = False
    causal = True

    def __init__(self, index: int, module: nn.Module, n_heads: int, head_dim: int):
        self.index, self.module = index, module
        self.n_heads, self.head_dim = n_heads, head_dim
        self.hidden_size = module.ln_1.weight.shape[-1]
        self.scale = float(module.attn.scaling)  # covers scale_attn_weights / _by_inverse_layer_idx

    def project(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        qkv = self.module.attn.c_attn(self.module.ln_1(z))  # [..., T, 3D]
        shape = (self.n_heads, self.head_dim)
        return tuple(x.unflatten(-1, shape) for x in qkv.split(self.hidden_size, dim=-1))  # 3 x [..., T, H, d]

    def attend(self, q: Tensor, k: Tensor, v: Tensor, positions: Tensor) -> Tensor:
        return attend(q, k, v, positions, self.scale, causal=True)  # [..., Q, H, d]

    def finish(self, u: Tensor, z_row: Tensor) -> Tensor:
        r = z_row + self.module.attn.c_proj(u)  # [..., D]
        return r + self.module.mlp(self.module.ln_2(r))  # [..., D]

    def layer(self, z: Tensor) -> Tensor:
        u = self.attend(*self.project(z), all_positions(z))  # [..., T, H, d]
        return self.finish(u.flatten(-2), z)  # [..., T, D]


class GPT2Adapter(HFAdapter):
    """``h[l]`` (GPT2Block)."""

    family = "gpt2"

    @classmethod
    def is_causal(cls, config) -> bool:
        return True

    def layers(self) -> Sequence[nn.Module]:
        return self.model.h

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.attn

    def make_block(self, module: nn.Module, index: int) -> GPT2Block:
        return GPT2Block(index, module, self.n_heads, self.head_dim)
