"""Block-only families (DeBERTa; Mamba in mamba.py): LAYER through the block's own forward.

The layer module is replayed with the arguments the model passed it during the real forward
(captured by a forward pre-hook): the attention mask, relative position bias or rotary tables
depend only on the sentence, so only ``hidden_states`` is swapped. Only what the block needs
is replayed: tensors, tuples of tensors and plain values; cache objects (and their keywords) are
dropped, and the recorded forward itself runs with ``use_cache=False``, so no replay reads or
grows a cache. Leading axes of z are flattened into the batch axis; captured tensors with
batch 1 broadcast over it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ligsite.errors import InputError
from ligsite.models.base import ForwardCache
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
        if index not in self._calls:
            raise InputError(f"block {index} of {self.name} is replayed from a real forward: call forward() first")
        return ReplayBlock(index, module, self._calls[index], (self.n_heads, self.head_dim, self.hidden_size))


class ConvReplayBlock(ReplayBlock):
    """DeBERTa-v2's block 0 followed by the encoder's convolution (METHOD.md, "Other blocks").

    The encoder applies ``conv(z(0), layer(z(0)), mask)`` (kernel over rows j-1..j+1, tanh, its
    own LayerNorm) after block 0, outside the layer module; it depends on the block input, so it
    belongs to LAYER_0 and z(1) is its output.
    """

    def __init__(self, block: ReplayBlock, conv: nn.Module):
        self.__dict__.update(block.__dict__)
        self.conv = conv

    def layer(self, z: Tensor) -> Tensor:
        t, d = z.shape[-2:]
        flat = z.reshape(-1, t, d)  # [B, T, D]
        out = super().layer(flat)  # [B, T, D]
        mask = torch.ones(1, t, dtype=torch.long, device=z.device)  # one unpadded sentence
        return self.conv(flat, out, mask).reshape(z.shape)


class DebertaAdapter(BlockOnlyAdapter):
    """DeBERTa v1/v2/v3: the relative positions and embeddings are replayed with the call;
    v2's convolution after block 0 is part of block 0 (``ConvReplayBlock``)."""

    family = "deberta"

    def layers(self) -> Sequence[nn.Module]:
        return self.model.encoder.layer

    def forward(self, input_ids: Tensor) -> ForwardCache:
        """The recorded forward; with a convolution, block 0's own output is the one after it."""
        cache = super().forward(input_ids)
        if getattr(self.model.encoder, "conv", None) is not None:
            with torch.no_grad():
                cache.z_next[0] = self.block(0).layer(cache.z[0])  # [T, D]
        return cache

    def make_block(self, module: nn.Module, index: int) -> ReplayBlock:
        block = super().make_block(module, index)
        conv = getattr(self.model.encoder, "conv", None)
        if index != 0 or conv is None:
            return block
        weight = next(module.parameters())
        if next(conv.parameters()).dtype != weight.dtype or next(conv.parameters()).device != weight.device:
            conv = copy.deepcopy(conv).to(device=weight.device, dtype=weight.dtype).requires_grad_(False)
        return ConvReplayBlock(block, conv)
