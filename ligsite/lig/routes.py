"""The three routes of METHOD.md (att z→u, mlp u→z, layer z→z), each fed to the same IG core.

Every route takes one block, its real input ``z`` [T, D], the target positions [J] and a raw
baseline, and returns per-target source scores and ``L(x)``. With ``batch`` (``ligsite.lig.batch``)
z is a right-padded batch of sentences [S, T, D]: each target's path moves its own sentence,
padded keys are masked in ``attend``, and padded sources get exact zeros.

Where the block's projections are affine (post-LN encoders) the path is walked in projection
space: q, K, V move linearly between their values at the two ends, so each (source, head) gets
a scalar gate in place of α, and the IG of a gate is exactly that source's share
``⟨ΔK_i, ∫ ∂L/∂K_i⟩`` (because ``(z_i − z'_i) W_K = ΔK_i``); q and the residual row count at
i = j. This needs the projections to be row-wise and position-free (post-LN encoders add
positions before block 0): the ITB start's projected rows are then row j's, broadcast. The
gated attention costs O(n·T·H) per target instead of O(n·T·D), and the FFN runs on row j only.
Pre-norm blocks (``rowwise_project``) take the tangent path of ``ligsite.lig.tangents``.
Otherwise (block-only families, and ``fast=False``: the plain reference the tests compare
against) the block input itself is interpolated, one path copy per target (and per head).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ligsite.errors import InputError
from ligsite.lig.batch import Padded, shares_calls
from ligsite.lig.ig import Fn, integrate
from ligsite.lig.tangents import tangent_route
from ligsite.models.base import Block

RAW_BASELINES = ("zero", "self_input_token")  # att and layer; ratio variants are post-processing
Ends = tuple[tuple[Tensor, ...], tuple[Tensor, ...]]  # (start, end), one tensor per path input


def layer_route(block: Block, z: Tensor, targets: Tensor, baseline: str, nodes: np.ndarray,
                weights: np.ndarray, fast: bool = True, batch: Padded | None = None) -> tuple[Tensor, Tensor]:
    """Direct z→z: scores [J, T_src] of ``‖LAYER_j(z(α)) − LAYER_j(z')‖`` and L(x) [J].

    ``batch``: z is a padded batch [S, T, D] of sentences and ``batch.rows`` says each target's
    (``ligsite.lig.batch``); None: z [T, D] is one sentence.
    """
    _check_batch(block, batch)
    if fast and getattr(block, "rowwise_project", False):
        return tangent_route(block, z, targets, baseline, nodes, weights, heads=False)
    if fast and block.affine_project:
        start, end, constants = _projected_ends(block, z, targets, baseline, batch)
        result = integrate(_projected_fn(block, heads=False), start, end, nodes, weights, constants)
        return _projected_scores(result.attributions, targets, block).sum(-1), result.value
    start, end = _input_ends(z, targets, baseline, batch)
    result = integrate(_input_fn(block, heads=False), start, end, nodes, weights,
                       (targets,) + _key_padding(batch))
    return result.attributions[0].sum(-1), result.value


def att_route(block: Block, z: Tensor, targets: Tensor, baseline: str, nodes: np.ndarray,
              weights: np.ndarray, fast: bool = True, batch: Padded | None = None) -> tuple[Tensor, Tensor]:
    """z→u for every head: scores [J, T_src, H] of ``‖ATT_j^h(z(α)) − ATT_j^h(z')‖``, L [J, H]."""
    _check_batch(block, batch)
    if fast and getattr(block, "rowwise_project", False):
        return tangent_route(block, z, targets, baseline, nodes, weights, heads=True)
    if fast and block.affine_project:  # heads are disjoint slices of q, K, V: one backward serves all
        start, end, constants = _projected_ends(block, z, targets, baseline, batch)
        result = integrate(_projected_fn(block, heads=True), start[:3], end[:3], nodes, weights,
                           constants)
        return _projected_scores(result.attributions, targets, block), result.value
    # Otherwise every head needs its own copy of the path so its gradient stays separate.
    h = block.n_heads
    start, end = _input_ends(z, targets, baseline, batch)
    copies = lambda x: x.repeat_interleave(h, 0)  # noqa: E731  [J*H, ...]
    heads = torch.arange(h, device=z.device).repeat(len(targets))  # [J*H]
    result = integrate(_input_fn(block, heads=True), tuple(map(copies, start)), tuple(map(copies, end)),
                       nodes, weights, (copies(targets), heads) + tuple(map(copies, _key_padding(batch))))
    scores = result.attributions[0].sum(-1).view(len(targets), h, -1)  # [J, H, T]
    return scores.transpose(1, 2), result.value.view(len(targets), h)


MLP_BASELINES = ("zero", "att_itb_a0")


def mlp_route(block: Block, z: Tensor, targets: Tensor, baseline: str, nodes: np.ndarray,
              weights: np.ndarray, fast: bool = True, batch: Padded | None = None) -> tuple[Tensor, Tensor]:
    """u→z: per-head scores [J, H] of ``‖MLP_j(u_j(α)) − MLP_j(u'_j)‖`` and L(x) [J].

    ``fast`` is accepted for a uniform signature: this route is token-local already.
    """
    if baseline not in MLP_BASELINES:
        raise InputError(f"no mlp path for baseline {baseline!r}; valid: {', '.join(MLP_BASELINES)}")
    _check_batch(block, batch)
    q, k, v = block.project(z)  # [T, H, d] (a padded batch: [S, T, H, d])
    positions = torch.arange(z.shape[-2], device=z.device).expand(z.shape[:-1])  # [T] ([S, T])
    padding = {} if batch is None else {"padding": batch.padding}
    u = _own(block.attend(q, k, v, positions, **padding), targets, batch).flatten(-2)  # [J, H*d] real head outputs
    # att_itb_a0: with every row equal to z_j all values are v_j, so ATT is v_j (per query head's
    # key/value head: ``project`` repeats shared key/value heads per query head).
    u_start = _own(v, targets, batch).flatten(-2) if baseline == "att_itb_a0" else torch.zeros_like(u)

    def fn(path: tuple[Tensor, ...], context: tuple[Tensor, ...]) -> Tensor:
        (u_path,), (z_row,) = path, context  # [B, n, H*d], [B, D] (or [B, 2w+1, D]: ``_rows``)
        return block.finish(u_path, z_row.unsqueeze(1).expand(-1, u_path.shape[1], *z_row.shape[1:]))

    z_rows = _rows(block, z, targets) if batch is None else _own(z, targets, batch)  # [J, D]
    result = integrate(fn, (u_start,), (u,), nodes, weights, (z_rows,))
    scores = result.attributions[0].view(len(targets), block.n_heads, -1).sum(-1)  # [J, H]
    return scores, result.value


def _projected_ends(block: Block, z: Tensor, targets: Tensor, baseline: str, batch: Padded | None = None,
                    ) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Gates at both path ends, and the per-target constants the gated attention needs.

    Along an affine path every projected row moves as ``K_i(α) = K'_i + α ΔK_i``; giving each
    (source, head) its own gate ``s`` in place of α leaves the IG of that gate equal to the
    source's K (or V, or q) share, ``⟨ΔK_i, ∫ ∂L/∂K_i⟩`` (chain rule: ``∂L/∂s = ⟨∂L/∂K_i, ΔK_i⟩``).
    Gates: s_q [J, H], s_k [J, T, H], s_v [J, T, H] from 0 to 1, plus the residual row [J, D]
    (the rows ``finish`` reads: ``_rows``).
    Constants: the four per-head dot products ``q'·K'_i, q'·ΔK_i, Δq·K'_i, Δq·ΔK_i``
    [J, T, H, 4], V' and ΔV [J, T, H, d]. A block with ``relative_dots`` (DeBERTa's c2p, linear
    in q_j, and p2c, linear in K_i) adds them to the same channels: c2p(q') + p2c(K') to the
    first, p2c(ΔK) to the second, c2p(Δq) to the third. A padded batch adds each target's key
    padding [J, T] to the constants.
    """
    j, t = len(targets), z.shape[-2]
    q, k, v = block.project(z)  # [T, H, d] (a padded batch: [S, T, H, d])
    q_own, z_own = _own(q, targets, batch), _rows(block, z, targets) if batch is None else _own(z, targets, batch)
    k_own, v_own = _own(k, targets, batch), _own(v, targets, batch)  # [J, H, d]
    if batch is not None:  # each target's own sentence
        k, v = k[batch.rows], v[batch.rows]  # [J, T, H, d]
    if baseline == "zero":
        q0, k0, v0 = block.project(z.new_zeros(z.shape[-2:]))  # the projections' biases, [T, H, d]
        q_start, k_start, v_start = q0[targets], k0.expand((j,) + k0.shape), v0.expand((j,) + v0.shape)
        z_start = torch.zeros_like(z_own)
    elif baseline == "self_input_token":  # every row z_j: every projected row is row j's
        q_start = q_own
        z_start = _rows(block, z, targets, z[targets]) if batch is None else z_own
        k_start, v_start = k_own.unsqueeze(1).expand(-1, t, -1, -1), v_own.unsqueeze(1).expand(-1, t, -1, -1)
    else:
        raise InputError(f"no raw path for baseline {baseline!r}; valid: {', '.join(RAW_BASELINES)}")
    dq, dk, dv = q_own - q_start, k - k_start, v - v_start  # [J, H, d], [J, T, H, d] x2
    dots = torch.stack([torch.einsum("jhd,jthd->jth", a, b) for a, b in
                        ((q_start, k_start), (q_start, dk), (dq, k_start), (dq, dk))], -1)  # [J, T, H, 4]
    relative = getattr(block, "relative_dots", None)
    if relative is not None:  # [J, 1, T, H, 2] -> (c2p, p2c) [J, T, H] at each end and along the path
        (c2p, p2c), (c2p_d, p2c_d) = (relative(a[:, None], b, targets[:, None]).squeeze(1).unbind(-1)
                                      for a, b in ((q_start, k_start), (dq, dk)))
        dots = dots + torch.stack((c2p + p2c, p2c_d, c2p_d, torch.zeros_like(c2p)), -1)
    gate_h, gate_th = torch.zeros_like(dq[..., 0]), torch.zeros_like(dk[..., 0])  # [J, H], [J, T, H]
    start = (gate_h, gate_th, gate_th, z_start)
    end = (gate_h + 1, gate_th + 1, gate_th + 1, z_own)
    return start, end, (dots, v_start, dv, targets) + _key_padding(batch)


def _projected_fn(block: Block, heads: bool) -> Fn:
    """Gated attention of target j (all heads), then the per-head context (att) or block row.

    Along the gates the dot products are ``q(α)·K_i(α) = q'·K'_i + s_k q'·ΔK_i + s_q (Δq·K'_i +
    s_k Δq·ΔK_i)``, formed from the four constant channels; the block's own ``probabilities``
    turns them into attention weights (scale, bias, mask, softmax: the adapter's). Nothing of
    size [n, T, H, d] is ever formed; V enters through two batched matmuls. A block with
    ``relative_dots`` has them in the channels already.
    """

    def fn(path: tuple[Tensor, ...], context: tuple[Tensor, ...]) -> Tensor:
        s_q, s_k, s_v = path[:3]  # [B, n, H], [B, n, T, H] x2 (layer: + z_row [B, n, D])
        dots, v_start, dv, targets = context[:4]  # [B, T, H, 4], [B, T, H, d] x2, [B]
        padding = context[4][:, None] if len(context) > 4 else None  # [B, 1, T]
        b, n = s_k.shape[:2]
        a0, a1, a2, a3 = (x.transpose(-1, -2).unsqueeze(1) for x in dots.unbind(-1))  # [B, 1, H, T]
        gate_k = s_k.transpose(-1, -2)  # [B, n, H, T]
        scores = a0 + gate_k * a1 + s_q.unsqueeze(-1) * (a2 + gate_k * a3)  # [B, n, H, T]
        positions = targets.view(-1, 1, 1).expand(b, n, 1)  # [B, n, 1]: one query per (target, node)
        probs = block.probabilities(scores.unsqueeze(-2), positions, padding).squeeze(-2)  # [B, n, H, T]
        u = (torch.einsum("bnht,bthd->bnhd", probs, v_start)
             + torch.einsum("bnht,bthd->bnhd", probs * s_v.transpose(-1, -2), dv))  # [B, n, H, d]
        return u if heads else block.finish(u.flatten(-2), path[3])

    return fn


def _projected_scores(attributions: tuple[Tensor, ...], targets: Tensor, block: Block) -> Tensor:
    """Source scores [J, T, H] from the gates' attributions; q and z_row count at i = j (a
    window's rows at j-w..j+w)."""
    a_q, a_k, a_v = attributions[:3]  # [J, H], [J, T, H] x2
    scores = a_k + a_v  # [J, T, H]
    rows = torch.arange(len(targets), device=targets.device)
    scores[rows, targets] += a_q
    if len(attributions) == 4:  # the rows finish reads (layer route), spread evenly over heads
        index, _ = _window(block, targets, scores.shape[1])  # [J, W]
        share = attributions[3].sum(-1).view(len(targets), -1, 1) / a_q.shape[1]  # [J, W, 1]
        scores.index_put_((rows[:, None].expand_as(index), index), share.expand(-1, -1, a_q.shape[1]),
                          accumulate=True)  # rows outside the sentence add their exact 0
    return scores


def _input_ends(z: Tensor, targets: Tensor, baseline: str, batch: Padded | None = None) -> Ends:
    """Block input at both ends, one copy per target (of its own sentence): [J, T, D]."""
    end = z.expand((len(targets),) + tuple(z.shape)) if batch is None else z[batch.rows]
    if baseline == "zero":
        return (torch.zeros_like(end),), (end,)
    if baseline == "self_input_token":
        return (_own(z, targets, batch).unsqueeze(1).expand_as(end),), (end,)
    raise InputError(f"no raw path for baseline {baseline!r}; valid: {', '.join(RAW_BASELINES)}")


def _input_fn(block: Block, heads: bool) -> Fn:
    """Boundary function on the block input: per-(target, head) context, or the block row.

    Context: targets [B], for att each copy's head [B], and for a padded batch the key padding
    [B, T] last.
    """

    def fn(path: tuple[Tensor, ...], context: tuple[Tensor, ...]) -> Tensor:
        z_path, targets = path[0], context[0]  # [B, n, T, D], [B]
        padded = len(context) > (2 if heads else 1)
        padding = {"padding": context[-1][:, None]} if padded else {}  # [B, 1, T]
        b, n = z_path.shape[:2]
        row = targets.view(-1, 1, 1, 1).expand(b, n, 1, z_path.shape[-1])
        if "att" not in block.granularities:  # block-only family: the whole block, row j
            return torch.gather(block.layer(z_path), 2, row).squeeze(2)  # [B, n, D]
        q, k, v = block.project(z_path)  # [B, n, T, H, d]
        q_row = torch.gather(q, 2, targets.view(-1, 1, 1, 1, 1).expand(b, n, 1, *q.shape[3:]))
        u = block.attend(q_row, k, v, targets.view(-1, 1, 1).expand(b, n, 1), **padding).squeeze(2)
        if heads:  # [B, n, H, d] -> this copy's head [B, n, d]
            head = context[1].view(-1, 1, 1, 1).expand(b, n, 1, u.shape[-1])
            return torch.gather(u, 2, head).squeeze(2)
        return block.finish(u.flatten(-2), _rows(block, z_path, targets))

    return fn


def _window(block: Block, targets: Tensor, t: int) -> tuple[Tensor, Tensor]:
    """Positions j-w..j+w of the rows ``finish`` reads (w = ``block.window``, 0 unless a block
    mixes neighbour rows after attention, like DeBERTa-v2's convolution), clamped into the
    sentence [J, W], and whether each lies inside it [J, W]."""
    w = getattr(block, "window", 0)
    index = targets[:, None] + torch.arange(-w, w + 1, device=targets.device)  # [J, W]
    return index.clamp(0, t - 1), (index >= 0) & (index < t)


def _rows(block: Block, x: Tensor, targets: Tensor, fill: Tensor | None = None) -> Tensor:
    """The rows ``finish`` reads at each target: row j [J, D] of x [T, D] or [J, n, D] of x
    [J, n, T, D]; with a window w, rows j-w..j+w [J, (n,) 2w+1, D], zero outside the sentence.
    ``fill`` [J, D] replaces every row inside the sentence (the ITB start: every row z_j)."""
    t = x.shape[-2]
    index, inside = _window(block, targets, t)
    inside = inside.to(x.dtype)[..., None]  # [J, W, 1]
    if fill is not None:
        rows = fill[:, None] * inside  # [J, W, D]
    elif x.dim() == 2:
        rows = x[index] * inside  # [J, W, D]
    else:
        n = x.shape[1]
        rows = torch.gather(x, 2, index[:, None, :, None].expand(-1, n, -1, x.shape[-1])) * inside[:, None]
    return rows if getattr(block, "window", 0) else rows.squeeze(-2)


def _own(x: Tensor, targets: Tensor, batch: Padded | None) -> Tensor:
    """Each target's own row of x: x [T, ...] of one sentence, or x [S, T, ...] of a padded batch."""
    return x[targets] if batch is None else x[batch.rows, targets]


def _key_padding(batch: Padded | None) -> tuple[Tensor, ...]:
    """The per-target key padding [J, T] a padded batch adds to an IG call's context (else none)."""
    return () if batch is None else (batch.padding[batch.rows],)


def _check_batch(block: Block, batch: Padded | None) -> None:
    """A padded batch needs a block whose paths can mask padded keys (``shares_calls``)."""
    if batch is not None and not shares_calls(block):
        raise InputError(f"block {block.index} cannot share IG calls between sentences (a sentence-specific "
                         f"constant or no key padding in its attend): explain its sentences one at a time")
