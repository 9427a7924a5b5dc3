"""Scaled dot-product attention over named axes, shared by every full-granularity family.

Written once so the encoder and decoder adapters differ only in their projections and in the
rest of the block; the causal mask comes from the query positions, so a decoder block is causal
even when called on one query row on its own.
"""

from __future__ import annotations

import torch
from torch import Tensor


def attend(
    q: Tensor, k: Tensor, v: Tensor, positions: Tensor, scale: float, causal: bool,
    bias: Tensor | None = None, allowed: Tensor | None = None, softcap: float | None = None,
) -> Tensor:
    """Per-head context of queries q [..., Q, H, d] over keys/values k, v [..., T, H, d].

    ``positions`` [..., Q] are the queries' token positions: with ``causal`` keys after a
    query's position get -inf (probability exactly 0, gradient exactly 0), and so do the keys
    ``allowed`` [T, T] (query position, key; e.g. a layer's real sliding-window mask) excludes.
    ``softcap`` (Gemma 2) caps the scaled scores as ``c · tanh(s / c)``. ``bias`` [H, T, T]
    (query position, key), e.g. MPNet's relative position bias, is added to the scaled scores
    like a mask: a constant of the block. Returns [..., Q, H, d].
    """
    scores = torch.einsum("...qhd,...khd->...hqk", q, k) * scale  # [..., H, Q, T]
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if allowed is not None:
        seen = allowed.to(k.device)[positions][..., : k.shape[-3]]  # [..., Q, T]
        scores = scores.masked_fill(~seen.unsqueeze(-3), float("-inf"))
    if bias is not None:
        scores = scores + position_rows(bias, positions, k.shape[-3])
    if causal:
        keys = torch.arange(k.shape[-3], device=k.device)  # [T]
        after = keys > positions.to(k.device)[..., :, None]  # [..., Q, T]
        scores = scores.masked_fill(after.unsqueeze(-3), float("-inf"))
    probs = scores.softmax(dim=-1)  # [..., H, Q, T]
    return torch.einsum("...hqk,...khd->...qhd", probs, v)  # [..., Q, H, d]


def all_positions(z: Tensor) -> Tensor:
    """Positions 0..T-1 for every row of z [..., T, D], broadcast to [..., T]."""
    t = z.shape[-2]
    return torch.arange(t, device=z.device).expand(*z.shape[:-2], t)


def position_rows(bias: Tensor, positions: Tensor, keys: int) -> Tensor:
    """The rows of a [H, T, T] bias at query ``positions`` [..., Q]: [..., H, Q, keys]."""
    rows = bias.to(positions.device)[:, positions, :keys]  # [H, ..., Q, keys]
    return rows.movedim(0, -3)
