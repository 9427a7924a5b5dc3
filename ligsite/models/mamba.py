"""Mamba: a causal state-space mixer in a pre-norm residual block, LAYER only (no heads).

    z(l+1) = z + mixer(norm(z))        norm: RMSNorm; mixer: conv1d (causal) + selective scan

There is no attention, so no head axis and no att / mlp boundary: LAYER through the block's
own modules, with no cache (the recorded forward runs with ``use_cache=False`` and the replay
passes none). The norm is computed in the run's dtype (HF's casts to float32, and the block
keeps its residual in float32 when ``residual_in_fp32``, which would make a float64 run
float32). Row j of the output depends on rows ≤ j only, so later sources get exactly 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ligsite.errors import InputError
from ligsite.models.hf import Dims, HFAdapter
from ligsite.models.prenorm import _alpha_star, norm_eps, row_norm

MAX_POSITIONS = 4096  # no position table: a bound on the scan's length, not a model limit


class MambaBlock:
    """``layer`` of one MambaBlock: z [..., T, D] -> z(l+1) [..., T, D]."""

    granularities = ("layer",)
    affine_project = False
    causal = True
    n_heads = head_dim = 0

    def __init__(self, index: int, module: nn.Module, hidden_size: int):
        self.index, self.module, self.hidden_size = index, module, hidden_size
        self._norm = row_norm(module.norm)

    def layer(self, z: Tensor) -> Tensor:
        t, d = z.shape[-2:]
        flat = z.reshape(-1, t, d)  # [B, T, D]
        out = flat + self.module.mixer(self._norm(flat), cache=None, attention_mask=None)
        return out.reshape(z.shape)

    def alpha_star(self, z: Tensor, granularity: str) -> Tensor | None:
        """The norm's scale invariance sets in above ``sqrt(eps / ms(z_i))`` (METHOD.md)."""
        return _alpha_star(z, norm_eps(self.module.norm))

    def project(self, z: Tensor):
        raise InputError(f"block {self.index} is block-only (Mamba has no attention): it offers 'layer' only")

    attend = finish = project


class MambaAdapter(HFAdapter):
    """``layers[l]`` (MambaBlock); no heads: ``n_heads = head_dim = 0``."""

    family = "mamba"
    granularities = ("layer",)
    forward_kwargs = {"use_cache": False}

    @classmethod
    def dims(cls, config) -> Dims:
        return Dims(int(config.num_hidden_layers), 0, 0, int(config.hidden_size), MAX_POSITIONS)

    @classmethod
    def is_causal(cls, config) -> bool:
        return True

    def layers(self) -> Sequence[nn.Module]:
        return self.model.layers

    def make_block(self, module: nn.Module, index: int) -> MambaBlock:
        return MambaBlock(index, module, self.hidden_size)
