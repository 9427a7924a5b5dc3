"""Block-only replay: LAYER through a block's own forward, for a family without an att/mlp adapter.

The layer module is replayed with the arguments the model passed it during the real forward
(captured by a forward pre-hook): the attention mask, relative position bias or rotary tables
depend only on the sentence, so only ``hidden_states`` is swapped. Only what the block needs
is replayed: tensors, tuples of tensors and plain values; cache objects (and their keywords) are
dropped, and the recorded forward itself runs with ``use_cache=False``, so no replay reads or
grows a cache. Leading axes of z are flattened into the batch axis; captured tensors with
batch 1 broadcast over it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ligsite.errors import InputError
from ligsite.models.hf import HFAdapter
from ligsite.models.hooks import first_tensor


class ReplayBlock:
    """A block that only offers ``layer``: the HF layer module called on new hidden states."""

    granularities = ("layer",)
    affine_project = False
    causal = False

    def __init__(self, index: int, module: nn.Module, call: tuple[tuple, dict], dims: tuple[int, int, int]):
        self.index, self.module = index, module
        self.n_heads, self.head_dim, self.hidden_size = dims
        args, kwargs = call
        self._args = tuple(a if _replayable(a) else None for a in args)  # positions kept
        self._kwargs = {k: v for k, v in kwargs.items() if k not in CACHE_KEYWORDS and _replayable(v)}

    def layer(self, z: Tensor) -> Tensor:
        t, d = z.shape[-2:]
        flat = z.reshape(-1, t, d)  # [B, T, D]
        dtype, device = z.dtype, z.device
        args = tuple(_to(a, dtype, device) for a in self._args[1:])
        kwargs = {k: _to(v, dtype, device) for k, v in self._kwargs.items() if k != "hidden_states"}
        if self._args:
            out = self.module(flat, *args, **kwargs)
        else:
            out = self.module(hidden_states=flat, **kwargs)
        return first_tensor(out).reshape(z.shape)  # [..., T, D]

    def project(self, z: Tensor):
        raise InputError(f"block {self.index} is block-only: it offers the 'layer' granularity only")

    attend = finish = project


CACHE_KEYWORDS = ("use_cache", "past_key_value", "past_key_values", "cache", "cache_params", "layer_past",
                  "output_attentions")


def _replayable(value: Any) -> bool:
    """Tensors, tuples of tensors and plain values; not cache objects or other model state."""
    if isinstance(value, tuple):
        return all(_replayable(v) for v in value)
    return value is None or isinstance(value, (Tensor, bool, int, float, str))


def _to(value: Any, dtype: torch.dtype, device: torch.device) -> Any:
    """Captured arguments in the block's dtype/device (floating tensors only; tuples kept)."""
    if isinstance(value, Tensor):
        return value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device)
    if isinstance(value, tuple):
        return tuple(_to(v, dtype, device) for v in value)
    return value


class BlockOnlyAdapter(HFAdapter):
    """Base of the replayed families; needs one ``forward`` before ``block``."""

    granularities = ("layer",)
    forward_kwargs = {"use_cache": False}

    def make_block(self, module: nn.Module, index: int) -> ReplayBlock:
        call = self.recorded_call(index, "its arguments (it is replayed)")
        return ReplayBlock(index, module, call, (self.n_heads, self.head_dim, self.hidden_size))
