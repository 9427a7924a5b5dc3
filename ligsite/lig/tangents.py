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
``q_j·k_i``, ``q_j·dk_i`` and ``dq_j·k_i`` per head, and the block's own ``attend`` turns them
into probabilities (lifted 2-d queries and keys, one-hot values), so masks, windows and
soft-capping are the adapter's.

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
from ligsite.lig.ig import integrate_gated, memory_budget
from ligsite.models.base import Block

Rows = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]  # q, k, v and their tangents


def tangent_route(block: Block, z: Tensor, targets: Tensor, baseline: str, nodes: np.ndarray,
                  weights: np.ndarray, heads: bool) -> tuple[Tensor, Tensor]:
    """att (``heads``): scores [J, T, H], L [J, H]; layer: scores [J, T], L [J].

    ``nodes``/``weights`` are the quadrature on [0, 1]; targets are handled in chunks sorted
    by position (the result is in the order given).
    """
    if baseline not in ("zero", "self_input_token"):
        raise InputError(f"no raw path for baseline {baseline!r}; valid: zero, self_input_token")
    t = z.shape[0]
    alpha = torch.as_tensor(np.concatenate(([0.0, 1.0], nodes)), dtype=z.dtype, device=z.device)  # [m]
    shared = _zero_rows(block, z, alpha) if baseline == "zero" else None
    order = torch.argsort(targets)
    scores = torch.zeros((len(targets), t) + ((block.n_heads,) if heads else ()), dtype=z.dtype, device=z.device)
    value = torch.zeros((len(targets),) + ((block.n_heads,) if heads else ()), dtype=z.dtype, device=z.device)
    for chunk in _chunks(order, block, t, len(alpha), z.element_size(), baseline, memory_budget(z.device)):
        part = targets[chunk]  # ascending
        keys = int(part[-1]) + 1 if block.causal else t  # rows a causal chunk can see
        pieces = None if shared is not None else _itb_pieces(block, z[:keys], part)
        if pieces is not None:  # ITB in closed form: no row projected per (target, node)
            s, v = _itb_chunk_route(block, pieces, z, part, alpha, weights, heads)
        else:
            rows = (tuple(x[:, :keys] for x in shared) if shared is not None  # [m, T', H, d], shared
                    else _itb_rows(block, z[part], z[:keys], alpha))  # [J, m, T', H, d]
            s, v = _chunk_route(block, rows, z, part, alpha, weights, heads)
        scores[chunk, :keys], value[chunk] = s, v
    return scores, value


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


def _chunk_route(block: Block, rows: Rows, z: Tensor, targets: Tensor, alpha: Tensor,
                 weights: np.ndarray, heads: bool) -> tuple[Tensor, Tensor]:
    """One ascending chunk of J targets over T' keys: scores [J, T', H] or [J, T'], and L.

    ``rows`` without a target axis are the zero path's (shared); with one, the ITB path's.
    """
    q, k, v, dq, dk, dv = rows  # zero: [m, T', H, d]; ITB: [J, m, T', H, d]
    j, keys, m = len(targets), k.shape[-3], len(alpha)
    shared = k.dim() == 4
    if shared:  # the targets' queries on the shared rows: [J, m, H, d]
        q_t, dq_t = q[:, targets].transpose(0, 1), dq[:, targets].transpose(0, 1)
        qk, q_dk, dq_k = (torch.einsum("jmhd,mthd->jmth", a, b) for a, b in ((q_t, k), (q_t, dk), (dq_t, k)))
    else:  # the target's own row never moves on the ITB path: its query is constant
        q_t = q[torch.arange(j, device=z.device), :, targets]  # [J, m, H, d]
        qk, q_dk = (torch.einsum("jmhd,jmthd->jmth", q_t, b) for b in (k, dk))
        dq_k = torch.zeros_like(qk)
    h = qk.shape[-1]
    one_hot = torch.eye(keys, dtype=z.dtype, device=z.device).unsqueeze(1).expand(keys, h, keys)
    positions = targets.view(-1, 1, 1).expand(j, m, 1)  # [J, m, 1]
    spec = "mthd" if shared else "jmthd"
    z_row = z[targets][:, None]  # [J, 1, D]
    scale_r = (alpha if shared else torch.ones_like(alpha))[None, :, None]  # residual row α z_j or z_j

    def fn(gates: tuple[Tensor, ...]) -> Tensor:
        g_k, g_v, g_q, g_r = gates  # [J, m, T', H] x2, [J, m, H], [J, m]
        lifted = torch.stack((qk + g_k * q_dk, dq_k), -1)  # [J, m, T', H, 2]
        query = torch.stack((torch.ones_like(g_q), g_q), -1).unsqueeze(2)  # [J, m, 1, H, 2]
        probs = block.attend(query, lifted, one_hot, positions).squeeze(2)  # [J, m, H, T']
        u = (torch.einsum(f"jmht,{spec}->jmhd", probs, v)
             + torch.einsum(f"jmht,{spec}->jmhd", probs * g_v.transpose(-1, -2), dv))  # [J, m, H, d]
        if heads:
            return u
        return block.finish(u.flatten(-2), (scale_r + g_r[..., None]) * z_row)  # [J, m, D]

    zeros = lambda *shape: torch.zeros(shape, dtype=z.dtype, device=z.device)  # noqa: E731
    gates = (zeros(j, m, keys, h), zeros(j, m, keys, h), zeros(j, m, h), zeros(j, m))
    result = integrate_gated(fn, gates, weights)
    a_k, a_v, a_q, a_r = result.attributions  # [J, T', H] x2, [J, H], [J]
    scores = a_k + a_v
    rows_j = torch.arange(j, device=z.device)
    if shared:  # the zero path moves the target's own query (and, on the layer route, residual)
        scores[rows_j, targets] += a_q
    if heads:
        return scores, result.value
    scores = scores.sum(-1)  # [J, T']
    if shared:
        scores[rows_j, targets] += a_r
    return scores, result.value


def _itb_chunk_route(block: Block, pieces, z: Tensor, targets: Tensor, alpha: Tensor,
                     weights: np.ndarray, heads: bool) -> tuple[Tensor, Tensor]:
    """The ITB path of one ascending chunk from the block's closed-form pieces (METHOD.md, "Cost").

    With ``s = 1/σ_ji(α)`` and ``s'`` its α-derivative, per (target j, source i, head) the key
    dot products are ``q_j·k_ji = s (P + α Δ) + P₀`` and ``q_j·dk_ji/dα = s' (P + α Δ) + s Δ``
    from three tables ``P = q_j·k_start_ji``, ``Δ = q_j·(k_end_i − k_start_ji)``, ``P₀ = q_j·k_offset_i``
    (the target's own row, hence its query, never moves). Values enter as coefficients of
    ``v_start_j`` and of ``v_end_i − v_start_j``: nothing of size [J, n, T, H, d] is formed.
    """
    j, keys, m = len(targets), pieces.k_end.shape[0], len(alpha)
    q_t = block.project(z[:keys])[0][targets]  # [J, H, d]: constant along the ITB path
    p0 = torch.einsum("jhd,jthd->jth", q_t, pieces.k_start)  # [J, T', H]
    delta = torch.einsum("jhd,thd->jth", q_t, pieces.k_end) - torch.einsum("jhd,jthd->jth", q_t, pieces.k_start)
    offset = torch.einsum("jhd,thd->jth", q_t, pieces.k_offset)
    a = alpha.view(1, -1, 1)  # [1, m, 1]
    var = (pieces.own[:, None] + 2 * a * pieces.cross[:, None] + a * a * pieces.step[:, None]) / pieces.width + pieces.eps
    inv = var.rsqrt()[..., None]  # [J, m, T', 1]
    d_inv = (-(var.pow(-1.5)) * (pieces.cross[:, None] + a * pieces.step[:, None]) / pieces.width)[..., None]
    a4 = a[..., None]  # [1, m, 1, 1]
    base = p0[:, None] + a4 * delta[:, None]  # [J, m, T', H]
    qk, q_dk = inv * base + offset[:, None], d_inv * base + inv * delta[:, None]
    h = qk.shape[-1]
    one_hot = torch.eye(keys, dtype=z.dtype, device=z.device).unsqueeze(1).expand(keys, h, keys)
    positions = targets.view(-1, 1, 1).expand(j, m, 1)  # [J, m, 1]
    v_step = pieces.v_end[None] - pieces.v_start[:, None]  # [J, T', H, d]; exactly 0 at i = j
    inv_h, d_inv_h = inv.transpose(-1, -2), d_inv.transpose(-1, -2)  # [J, m, 1, T']
    z_row = z[targets][:, None].expand(-1, m, -1)  # [J, m, D]: the residual never moves either

    def fn(gates: tuple[Tensor, ...]) -> Tensor:
        g_k, g_v = gates  # [J, m, T', H] x2
        lifted = torch.stack((qk + g_k * q_dk, torch.zeros_like(qk)), -1)  # [J, m, T', H, 2]
        query = torch.stack((torch.ones_like(qk[:, :, 0]), torch.zeros_like(qk[:, :, 0])), -1).unsqueeze(2)
        probs = block.attend(query, lifted, one_hot, positions).squeeze(2)  # [J, m, H, T']
        g = g_v.transpose(-1, -2)  # [J, m, H, T']
        scale = probs * (inv_h + g * d_inv_h)  # weight of each value row's point v_start + α v_step
        along = a4 * scale + probs * g * inv_h  # [J, m, H, T']: coefficient of v_step
        u = (scale.sum(-1, keepdim=True) * pieces.v_start[:, None] + torch.einsum("jmht,jthd->jmhd", along, v_step)
             + probs.sum(-1, keepdim=True) * pieces.v_offset)  # [J, m, H, d]
        return u if heads else block.finish(u.flatten(-2), z_row)

    zeros = torch.zeros((j, m, keys, h), dtype=z.dtype, device=z.device)
    result = integrate_gated(fn, (zeros, zeros.clone()), weights)
    scores = result.attributions[0] + result.attributions[1]  # [J, T', H]
    return (scores if heads else scores.sum(-1)), result.value


def _chunks(order: Tensor, block: Block, t: int, m: int, itemsize: int, baseline: str, budget: int):
    """Index chunks of ``order`` (targets sorted by position) that fit ``budget`` bytes.

    Per target: the [n, T, H] score tables and gates (with their autograd state), and on the
    ITB path the per-pair rows [n, T, H, d] x 6 when the block has no closed form.
    """
    h, d, width = block.n_heads, block.head_dim, block.hidden_size
    per_target = m * t * (h * (12 + (0 if baseline == "zero" else 6 * d)) + (0 if baseline == "zero" else 3 * width))
    size = max(1, budget // max(per_target * itemsize * 3, 1))
    return [order[lo : lo + size] for lo in range(0, len(order), size)]
