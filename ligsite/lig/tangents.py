"""The pre-norm fast path: att and layer routes walked in projection space with tangents.

Everything before attention in a pre-norm block (norm, projections, q/k norms, RoPE) is
row-wise: row i's q, k, v depend on the input row x_i and the position i only. Along a path
x(α) each row moves on its own curve, so the rows' points and tangents ``d(q, k, v)_i/dα`` at
every node come from one forward-mode JVP of the row map, and source i's share for target j is

    Σ_k w_k ⟨∂L_j/∂(k, v)_i, d(k, v)_i/dα⟩          (+ at i = j: the query's and the residual's)

exact, with no backward through the projections (METHOD.md, "Cost"). To keep targets and
heads apart without copying the path, every (target, source, head) has a scalar gate ε = 0
that moves its key (or value) along its tangent, ``k_i + ε dk_i/dα``; then ``∂L_j/∂ε`` is that
source's term (``ig.integrate_gated``). The attention only needs the dot products
``q_j·k_i``, ``q_j·dk_i`` and ``dq_j·k_i`` per head, and the block's own ``probabilities`` turns
them into attention weights, so masks, windows, relative biases and soft-capping are the
adapter's. Tables are laid out so the value products are plain batched matmuls, and the path's
two ends are evaluated apart, without gradients.

- Zero baseline: rows ``α z_i`` are the same for every target: projected once (closed form,
  ``zero_rows``: a scalar ``α/σ_i(α)`` times the projected row) or by one JVP over the nodes.
- ITB: rows ``(1 − α) z_j + α z_i`` differ per target; the target's own row is constant
  (so its query and residual have no tangent and the self score is exactly 0). Where the block
  offers its row map in closed form (``itb_pieces``: "normalise, then affine", METHOD.md) the
  keys and values are a scalar ``1/σ_ji(α)`` times two projected rows, so only per-pair dot
  products are formed; otherwise (q/k norms) per-pair JVPs.
- Causal blocks: a chunk of targets sees keys ≤ its last target only.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.func import jvp

from ligsite.errors import InputError
from ligsite.lig.ig import halve, integrate_gated, memory_budget
from ligsite.models.base import Block

Rows = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]  # q, k, v and their tangents


def tangent_route(block: Block, z: Tensor, targets: Tensor, baseline: str, nodes: np.ndarray,
                  weights: np.ndarray, heads: bool) -> tuple[Tensor, Tensor]:
    """att (``heads``): scores [J, T, H], L [J, H]; layer: scores [J, T], L [J].

    ``nodes``/``weights`` are the quadrature on [0, 1]; targets are handled in chunks sorted
    by position (the result is in the order given), halved on CUDA out-of-memory.
    """
    if baseline not in ("zero", "self_input_token"):
        raise InputError(f"no raw path for baseline {baseline!r}; valid: zero, self_input_token")
    t = z.shape[0]
    alpha = torch.as_tensor(np.concatenate(([0.0, 1.0], nodes)), dtype=z.dtype, device=z.device)  # [m]
    shared = _zero_rows(block, z, alpha) if baseline == "zero" else None
    order = torch.argsort(targets)
    scores = torch.zeros((len(targets), t) + ((block.n_heads,) if heads else ()), dtype=z.dtype, device=z.device)
    value = torch.zeros((len(targets),) + ((block.n_heads,) if heads else ()), dtype=z.dtype, device=z.device)
    per_target = _bytes_per_target(block, t, len(alpha), z.element_size(), baseline)
    size, lo = max(1, memory_budget(z.device) // per_target), 0
    while lo < len(order):
        chunk = order[lo : lo + size]
        try:
            part, value[chunk] = _chunk(block, shared, z, targets[chunk], alpha, nodes, weights, heads)
        except torch.cuda.OutOfMemoryError as error:
            size = halve(min(size, len(chunk)), error, per_target)
            continue
        scores[chunk, : part.shape[1]] = part  # a causal chunk's sources end at its last target
        lo += len(chunk)
    return scores, value


def _chunk(block: Block, shared: Rows | None, z: Tensor, part: Tensor, alpha: Tensor, nodes: np.ndarray,
           weights: np.ndarray, heads: bool) -> tuple[Tensor, Tensor]:
    """Scores [J, T'(, H)] over the T' sources the chunk of ascending targets ``part`` sees, and L."""
    keys = int(part[-1]) + 1 if block.causal else z.shape[0]  # rows a causal chunk can see
    pieces = None if shared is not None else _itb_pieces(block, z[:keys], part)
    if pieces is not None:  # ITB in closed form: no row projected per (target, node)
        return _itb_chunk_route(block, pieces, z, part, alpha, nodes, weights, heads)
    rows = (tuple(x[:, :keys] for x in shared) if shared is not None  # [m, T', H, d], shared
            else _itb_rows(block, z[part], z[:keys], alpha))  # [J, m, T', H, d]
    return _chunk_route(block, rows, z, part, alpha, nodes, weights, heads)


def _zero_rows(block: Block, z: Tensor, alpha: Tensor) -> Rows:
    """Rows ``α z_i`` (shared by every target) and their tangents ``z_i`` through the row map:
    in closed form where the block offers it (``zero_rows``), else by one JVP. [m, T, H, d]."""
    closed = getattr(block, "zero_rows", None)
    rows = closed(z, alpha) if closed is not None else None
    return rows if rows is not None else _rows(block, alpha[:, None, None] * z, z.expand(len(alpha), -1, -1))


def _itb_pieces(block: Block, rows: Tensor, targets: Tensor):
    """The block's closed-form ITB keys and values (``itb_pieces``), or None: take JVPs."""
    pieces = getattr(block, "itb_pieces", None)
    return pieces(rows, targets) if pieces is not None else None


def _itb_rows(block: Block, start: Tensor, end: Tensor, alpha: Tensor) -> Rows:
    """Rows ``z_j + α (z_i − z_j)`` for targets j (start [J, D]) and sources i (end [T', D]) and
    their tangents, by JVP of the row map: [J, m, T', H, d] each."""
    first = start[:, None, None, :]  # [J, 1, 1, D]
    path = first + alpha[None, :, None, None] * (end - first)  # [J, m, T', D]
    return _rows(block, path, (end - first).expand_as(path))


def _rows(block: Block, x: Tensor, tangent: Tensor) -> Rows:
    """q, k, v [..., T, H, d] of rows x [..., T, D] and their tangents along ``tangent``."""
    (q, k, v), (dq, dk, dv) = jvp(block.project, (x,), (tangent,))
    return q, k, v, dq, dk, dv


def _chunk_route(block: Block, rows: Rows, z: Tensor, targets: Tensor, alpha: Tensor, nodes: np.ndarray,
                 weights: np.ndarray, heads: bool) -> tuple[Tensor, Tensor]:
    """One ascending chunk of J targets over T' keys: scores [J, T', H] or [J, T'], and L.

    ``rows`` without a target axis are the zero path's (shared); with one, the ITB path's.
    Tables are [m, H, J, T'] (node, head, target, source), so that the values enter through
    one batched matmul per (node, head); the gates are [J, n, H, T'] (target first, as
    ``integrate_gated`` reads them), seen through a permuted view.
    """
    q, k, v, dq, dk, dv = rows  # zero: [m, T', H, d]; ITB: [J, m, T', H, d]
    j, m = len(targets), len(alpha)
    shared = k.dim() == 4
    if shared:  # the targets' queries on the shared rows
        q_t, dq_t = (x[:, targets].transpose(1, 2) for x in (q, dq))  # [m, H, J, d]
        k_h, dk_h = (x.transpose(1, 2).transpose(-1, -2) for x in (k, dk))  # [m, H, d, T']
        qk, q_dk, dq_k = q_t @ k_h, q_t @ dk_h, dq_t @ k_h  # [m, H, J, T']
        v_h, dv_h = (x.transpose(1, 2).contiguous() for x in (v, dv))  # [m, H, T', d]
    else:  # the target's own row never moves on the ITB path: its query is constant
        q_t = q[torch.arange(j, device=z.device), :, targets]  # [J, m, H, d]
        qk, q_dk = (torch.einsum("jmhd,jmthd->mhjt", q_t, x) for x in (k, dk))
        dq_k = None
        v_h, dv_h = (x.permute(1, 3, 0, 2, 4).contiguous() for x in (v, dv))  # [m, H, J, T', d]
    z_row = z[targets][:, None]  # [J, 1, D]
    scale_r = (alpha if shared else torch.ones_like(alpha))[None, :, None]  # residual row α z_j or z_j

    def boundary(span: slice, gates: tuple[Tensor, ...] | None) -> Tensor:
        dots = qk[span]  # [n, H, J, T']
        if gates is not None:
            g_k, g_v, g_q, g_r = gates  # [J, n, H, T'] x2, [J, n, H], [J, n]
            dots = dots + g_k.permute(1, 2, 0, 3) * q_dk[span]
            if dq_k is not None:
                dots = dots + g_q.permute(1, 2, 0)[..., None] * dq_k[span]
        probs = block.probabilities(dots, targets)  # [n, H, J, T']
        u = _values(probs, v_h[span])
        if gates is not None:
            u = u + _values(probs * g_v.permute(1, 2, 0, 3), dv_h[span])
        u = u.permute(2, 0, 1, 3)  # [J, n, H, d]
        if heads:
            return u
        residual = scale_r[:, span] * z_row if gates is None else (scale_r[:, span] + g_r[..., None]) * z_row
        return block.finish(u.flatten(-2), residual)  # [J, n, D]

    with torch.no_grad():
        ends = boundary(slice(0, 2), None)
    n, h, keys = m - 2, qk.shape[1], qk.shape[-1]
    zeros = lambda *shape: torch.zeros(shape, dtype=z.dtype, device=z.device)  # noqa: E731
    gates = (zeros(j, n, h, keys), zeros(j, n, h, keys), zeros(j, n, h), zeros(j, n))
    result = integrate_gated(lambda g: boundary(slice(2, None), g), gates, nodes, weights, ends)
    a_k, a_v, a_q, a_r = result.attributions  # [J, H, T'] x2, [J, H], [J]
    scores = (a_k + a_v).transpose(1, 2)  # [J, T', H]
    rows_j = torch.arange(j, device=z.device)
    if shared:  # the zero path moves the target's own query (and, on the layer route, residual)
        scores[rows_j, targets] += a_q
    if heads:
        return scores, result.value
    scores = scores.sum(-1)  # [J, T']
    if shared:
        scores[rows_j, targets] += a_r
    return scores, result.value


def _values(probs: Tensor, v: Tensor) -> Tensor:
    """Σ_i probs_i v_i: probs [n, H, J, T'] with shared values [n, H, T', d] or per-target
    values [n, H, J, T', d] -> [n, H, J, d]."""
    if v.dim() == 4:
        return probs @ v
    return (probs.unsqueeze(-2) @ v).squeeze(-2)


def _itb_chunk_route(block: Block, pieces, z: Tensor, targets: Tensor, alpha: Tensor, nodes: np.ndarray,
                     weights: np.ndarray, heads: bool) -> tuple[Tensor, Tensor]:
    """The ITB path of one ascending chunk from the block's closed-form pieces (METHOD.md, "Cost").

    With ``s = 1/σ_ji(α)`` and ``s'`` its α-derivative, per (target j, source i, head) the key
    dot products are ``q_j·k_ji = s (P + α Δ) + P₀`` and ``q_j·dk_ji/dα = s' (P + α Δ) + s Δ``
    from three tables ``P = q_j·k_start_ji``, ``Δ = q_j·(k_end_i − k_start_ji)``, ``P₀ = q_j·k_offset_i``
    (the target's own row, hence its query, never moves). Values enter as coefficients of
    ``v_start_j`` and of ``v_end_i − v_start_j``: nothing of size [J, n, T, H, d] is formed.
    Tables are [J, H, m, T'] (target, head, node, source): the value product is one batched
    matmul per (target, head); the gates are [J, n, H, T'], seen through a permuted view.
    """
    j, keys, m = len(targets), pieces.k_end.shape[0], len(alpha)
    q_t = block.project(z[:keys])[0][targets]  # [J, H, d]: constant along the ITB path
    p0 = torch.einsum("jhd,jthd->jht", q_t, pieces.k_start)[:, :, None]  # [J, H, 1, T']
    delta = (torch.einsum("jhd,thd->jht", q_t, pieces.k_end) - p0[:, :, 0])[:, :, None]
    offset = torch.einsum("jhd,thd->jht", q_t, pieces.k_offset)[:, :, None]
    a = alpha.view(1, -1, 1)  # [1, m, 1]
    var = (pieces.own[:, None] + 2 * a * pieces.cross[:, None] + a * a * pieces.step[:, None]) / pieces.width + pieces.eps
    inv = var.rsqrt()[:, None]  # [J, 1, m, T']
    d_inv = (-(var.pow(-1.5)) * (pieces.cross[:, None] + a * pieces.step[:, None]) / pieces.width)[:, None]
    a4 = alpha.view(1, 1, -1, 1)  # [1, 1, m, 1]
    base = p0 + a4 * delta  # [J, H, m, T']
    qk, q_dk = inv * base + offset, d_inv * base + inv * delta
    positions = targets.view(-1, 1).expand(j, m)  # [J, m]: every node's query is target j's
    v_start = pieces.v_start[:, :, None]  # [J, H, 1, d]
    v_step = (pieces.v_end[None] - pieces.v_start[:, None]).transpose(1, 2)  # [J, H, T', d]; 0 at i = j
    v_offset = pieces.v_offset[:, None]  # [H, 1, d]
    z_row = z[targets][:, None]  # [J, 1, D]: the residual never moves either

    def boundary(span: slice, gates: tuple[Tensor, ...] | None) -> Tensor:
        dots = qk[:, :, span]  # [J, H, n, T']
        if gates is not None:
            g_k, g_v = (g.transpose(1, 2) for g in gates)  # [J, H, n, T'] x2
            dots = dots + g_k * q_dk[:, :, span]
        probs = block.probabilities(dots, positions[:, span])  # [J, H, n, T']
        s, ds, a_n = inv[:, :, span], d_inv[:, :, span], a4[:, :, span]
        scale = probs * (s if gates is None else s + g_v * ds)  # weight of each value row's point
        along = a_n * scale if gates is None else a_n * scale + probs * g_v * s  # coefficient of v_step
        u = scale.sum(-1, keepdim=True) * v_start + along @ v_step + probs.sum(-1, keepdim=True) * v_offset
        u = u.transpose(1, 2)  # [J, n, H, d]
        return u if heads else block.finish(u.flatten(-2), z_row.expand(-1, u.shape[1], -1))

    with torch.no_grad():
        ends = boundary(slice(0, 2), None)
    zeros = torch.zeros((j, m - 2, qk.shape[1], keys), dtype=z.dtype, device=z.device)
    result = integrate_gated(lambda g: boundary(slice(2, None), g), (zeros, zeros.clone()), nodes, weights, ends)
    scores = (result.attributions[0] + result.attributions[1]).transpose(1, 2)  # [J, T', H]
    return (scores if heads else scores.sum(-1)), result.value


def _bytes_per_target(block: Block, t: int, m: int, itemsize: int, baseline: str) -> int:
    """Bytes one target's share of a chunk needs: the [m, T, H] score tables and gates (with
    their autograd state), and on the ITB path the per-pair rows [m, T, H, d] x 6 when the block
    has no closed form."""
    h, d, width = block.n_heads, block.head_dim, block.hidden_size
    per_target = m * t * (h * (12 + (0 if baseline == "zero" else 6 * d)) + (0 if baseline == "zero" else 3 * width))
    return max(per_target * itemsize * 3, 1)
