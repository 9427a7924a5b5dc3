"""The IG core: one function, the two ends of a straight path, a quadrature rule.

For ``fn`` mapping inputs ``x = (x_1, …, x_m)`` (each ``[B, n, ...]``) to ``[B, n, *E, D]``::

    L(x)  = ‖fn(x) − fn(start)‖₂ over the last axis          -> [B, n, *E]
    x(α)  = start + α (end − start)
    IG_m  = (end_m − start_m) ⊙ Σ_k w_k ∇_{x_m} Σ_E L(x(α_k))

Batch rows are independent, and so are the extra axes ``E`` (e.g. heads whose inputs are
disjoint slices), so one backward of ``Σ L`` yields every row's and every head's gradient.
All nodes go through ``fn`` in one call; the only loop is over chunks of the batch axis, sized
from a byte budget (``memory_budget``) and halved on CUDA out-of-memory (``halve``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ligsite.errors import ComputeFailed

Fn = Callable[[tuple[Tensor, ...], tuple[Tensor, ...]], Tensor]

DEFAULT_MEMORY_BYTES = 768 * 2**20
ACTIVATION_FACTOR = 12  # bytes of autograd state per input element, relative to the input itself


def memory_budget(device: torch.device) -> int:
    """Bytes one batched IG call may use: a quarter of a GPU's free memory, else a fixed 768 MiB."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(DEFAULT_MEMORY_BYTES, free // 4)
    return DEFAULT_MEMORY_BYTES


class MemoryRetryWarning(UserWarning):
    """CUDA ran out of memory in a batched IG call; the chunk was halved and retried."""


def halve(chunk: int, error: BaseException, per_row: int) -> int:
    """The next chunk after an out-of-memory error at ``chunk`` rows (said once per process).

    Rows are independent, so a smaller chunk gives the same numbers; at one row there is
    nothing left to split and the error is raised with what to change.
    """
    if chunk <= 1:
        raise ComputeFailed(
            f"CUDA ran out of memory on a single IG row (about {per_row / 2**20:.0f} MiB of autograd "
            f"state at these steps): use fewer --steps, shorter texts, --dtype float32 instead of "
            f"float64, or a device with more free memory ({error})".replace("\n", " ")) from error
    say_memory_retry()
    return max(1, chunk // 2)


@functools.cache
def say_memory_retry() -> None:
    """Warn once per process that chunks are being halved (each halving is silent after that)."""
    warnings.warn("CUDA ran out of memory in a batched IG call: halving the chunk and retrying (the "
                  "results are unchanged, only slower; a smaller memory budget avoids the retries)",
                  MemoryRetryWarning, stacklevel=3)


@dataclass
class IGResult:
    """Attributions per input (shapes of ``end``, ``[B, ...]``) and ``L`` at α = 1 (``[B, *E]``)."""

    attributions: tuple[Tensor, ...]
    value: Tensor


def safe_norm(diff: Tensor) -> Tensor:
    """‖diff‖₂ over the last axis with gradient 0 (not NaN, not noise) where diff is exactly 0."""
    squared = (diff * diff).sum(-1)
    nonzero = squared > 0
    root = torch.sqrt(torch.where(nonzero, squared, torch.ones_like(squared)))
    return torch.where(nonzero, root, torch.zeros_like(squared))


def integrate(
    fn: Fn,
    start: Sequence[Tensor],
    end: Sequence[Tensor],
    nodes: np.ndarray,
    weights: np.ndarray,
    context: Sequence[Tensor] = (),
    memory_bytes: int | None = None,
) -> IGResult:
    """Integrated gradients of ``L`` along start -> end for every batch row at once.

    ``context`` tensors ``[B, ...]`` are passed through to ``fn`` unchanged (no node axis): the
    parts of a boundary function held fixed, e.g. the residual row or the target positions.
    """
    start, end, context = tuple(start), tuple(end), tuple(context)
    memory_bytes = memory_budget(end[0].device) if memory_bytes is None else memory_bytes
    batch = end[0].shape[0]
    per_row = sum(x[0].numel() * x.element_size() for x in end) * len(nodes) * ACTIVATION_FACTOR
    chunk = max(1, min(batch, memory_bytes // max(per_row, 1)))
    parts, lo = [], 0
    while lo < batch:  # chunks of rows; on CUDA out-of-memory the chunk halves and is retried
        rows = slice(lo, lo + chunk)
        try:
            parts.append(_integrate_chunk(fn, tuple(x[rows] for x in start), tuple(x[rows] for x in end),
                                          nodes, weights, tuple(c[rows] for c in context)))
        except torch.cuda.OutOfMemoryError as error:
            chunk = halve(chunk, error, per_row)
            continue
        lo += chunk
    if len(parts) == 1:
        return parts[0]
    attributions = tuple(torch.cat(group) for group in zip(*(p.attributions for p in parts), strict=True))
    return IGResult(attributions, torch.cat([p.value for p in parts]))


def _integrate_chunk(
    fn: Fn,
    start: tuple[Tensor, ...],
    end: tuple[Tensor, ...],
    nodes: np.ndarray,
    weights: np.ndarray,
    context: tuple[Tensor, ...],
) -> IGResult:
    """One chunk of ``integrate``: all nodes in one forward and one backward."""
    dtype, device = end[0].dtype, end[0].device
    delta = tuple(e - s for s, e in zip(start, end, strict=True))  # [B, ...] each
    with torch.no_grad():  # fn at both ends in one call: [B, 2, *E, D]
        ends = fn(tuple(torch.stack((s.expand_as(e), e), 1) for s, e in zip(start, end, strict=True)), context)
    reference = ends[:, :1]  # fn(start), [B, 1, *E, D]
    value = safe_norm(ends[:, 1] - ends[:, 0])  # [B, *E]
    alpha = torch.as_tensor(nodes, dtype=dtype, device=device)
    # A node exactly at α = 0 sits on the kink of the norm: its term is defined as 0.
    weight = torch.as_tensor(np.where(nodes == 0, 0.0, weights), dtype=dtype, device=device)
    with torch.enable_grad():
        path = tuple(
            (s.unsqueeze(1) + _along(alpha, d) * d.unsqueeze(1)).detach().requires_grad_(True)
            for s, d in zip(start, delta, strict=True)
        )  # [B, n, ...] each, leaves
        loss = safe_norm(fn(path, context) - reference)  # [B, n, *E]
        loss = (loss * _along(weight, loss[:, 0])).sum()
        grads = torch.autograd.grad(loss, path)
    attributions = tuple(d * g.sum(1) for d, g in zip(delta, grads, strict=True))
    return IGResult(attributions, value)


def _along(values: Tensor, like: Tensor) -> Tensor:
    """``values`` [n] shaped to broadcast as the node axis of ``[B, n, *like.shape[1:]]``."""
    return values.view((1, -1) + (1,) * (like.dim() - 1))


def integrate_gated(fn: Callable[[tuple[Tensor, ...]], Tensor], gates: Sequence[Tensor], nodes: np.ndarray,
                    weights: np.ndarray, ends: Tensor) -> IGResult:
    """IG along a curved path that ``fn`` walks itself, read off through gates.

    ``fn(gates)`` returns the boundary function at the path's n nodes, ``[B, n, *E, D]``, and
    ``ends`` [B, 2, *E, D] holds its values at the path's start and end (computed apart, without
    gradients). Each gate is a zero tensor ``[B, n, ...]`` that, at node k, moves one part of the
    input along that part's tangent ``dx/dα(α_k)``; so ``∂L/∂gate`` is the part's term of
    ``dL/dα`` (chain rule) and ``Σ_k w_k ∂L(α_k)/∂gate`` its IG share. The shares sum to
    ``∫ dL/dα dα = L(x)`` (completeness), whatever the path's shape. A straight path with the
    gate as its input coordinates is ``integrate``. As there, a node exactly at α = 0 (the
    start, where the norm has its kink) contributes 0. Returns per-gate attributions [B, ...]
    and ``L(x)`` [B, *E].
    """
    leaves = tuple(g.detach().requires_grad_(True) for g in gates)
    reference = ends[:, :1].detach()  # [B, 1, *E, D]
    with torch.enable_grad():
        path = fn(leaves)  # [B, n, *E, D]
        weight = torch.as_tensor(np.where(nodes == 0, 0.0, weights), dtype=path.dtype, device=path.device)
        loss = safe_norm(path - reference)  # [B, n, *E]
        loss = (loss * _along(weight, loss[:, 0])).sum()
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    value = safe_norm((ends[:, 1] - ends[:, 0]).detach())  # [B, *E]
    attributions = tuple(torch.zeros_like(g[:, 0]) if d is None else d.sum(1)
                         for g, d in zip(leaves, grads, strict=True))
    return IGResult(attributions, value)
