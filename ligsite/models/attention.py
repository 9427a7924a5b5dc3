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
    padding: Tensor | None = None,
) -> Tensor:
    """Per-head context of queries q [..., Q, H, d] over keys/values k, v [..., T, H, d].

    ``positions`` [..., Q] are the queries' token positions: with ``causal`` keys after a
    query's position get -inf (probability exactly 0, gradient exactly 0), and so do the keys
    ``allowed`` [T, T] (query position, key; e.g. a layer's real sliding-window mask) excludes.
    ``softcap`` (Gemma 2) caps the scaled scores as ``c · tanh(s / c)``. ``bias`` [H, T, T]
    (query position, key), e.g. MPNet's relative position bias, is added to the scaled scores
    like a mask: a constant of the block. ``padding`` [..., T] (broadcast against k's leading
    axes) is True at the keys a right-padded batch of sentences added: they get -inf, so a
    padded sentence attends exactly as it does alone. Returns [..., Q, H, d].
    """
    dots = torch.einsum("...qhd,...khd->...hqk", q, k)  # [..., H, Q, T]
    probs = probabilities(dots, positions, scale, causal, bias, allowed, softcap, padding)
    return torch.einsum("...hqk,...khd->...qhd", probs, v)  # [..., Q, H, d]


def probabilities(
    dots: Tensor, positions: Tensor, scale: float, causal: bool,
    bias: Tensor | None = None, allowed: Tensor | None = None, softcap: float | None = None,
    padding: Tensor | None = None,
) -> Tensor:
    """``attend``'s weights from the raw dot products ``dots`` [..., H, Q, T] (query · key per head).

    ``softmax_T(f(scale · dots) + bias + mask)`` with the options of ``attend``; for paths that
    form their dot products themselves (the pre-norm tangent path). Returns [..., H, Q, T].
    """
    keys = dots.shape[-1]
    scores = dots * scale
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    if allowed is not None:
        seen = allowed.to(dots.device)[positions][..., :keys]  # [..., Q, T]
        scores = scores.masked_fill(~seen.unsqueeze(-3), float("-inf"))
    if bias is not None:
        scores = scores + position_rows(bias, positions, keys)
    if causal:
        after = torch.arange(keys, device=dots.device) > positions.to(dots.device)[..., :, None]  # [..., Q, T]
        scores = scores.masked_fill(after.unsqueeze(-3), float("-inf"))
    if padding is not None:
        scores = scores.masked_fill(padding.to(dots.device)[..., None, None, :], float("-inf"))
    return scores.softmax(dim=-1)  # [..., H, Q, T]


def all_positions(z: Tensor) -> Tensor:
    """Positions 0..T-1 for every row of z [..., T, D], broadcast to [..., T]."""
    t = z.shape[-2]
    return torch.arange(t, device=z.device).expand(*z.shape[:-2], t)


def position_rows(bias: Tensor, positions: Tensor, keys: int) -> Tensor:
    """The rows of a [H, T, T] bias at query ``positions`` [..., Q]: [..., H, Q, keys]."""
    rows = bias.to(positions.device)[:, positions, :keys]  # [H, ..., Q, keys]
    return rows.movedim(0, -3)
