"""The three routes of METHOD.md (att z→u, mlp u→z, layer z→z), each fed to the same IG core.

Every route takes one block, its real input ``z`` [T, D], the target positions [J] and a raw
baseline, and returns per-target source scores and ``L(x)``. Where the block's projections are
affine (post-LN encoders), the path is walked in projection space: q, K, V of the two ends are
interpolated (exact for an affine map) and a source's score is read off the K, V (and, at the
target, q and residual) attributions, because ``(z_i − z'_i) W = ΔK_i``. This relies on the
projections being row-wise and position-free (true of post-LN encoders, whose positions enter
before block 0): the ITB start's projected rows are then row j's, broadcast. Otherwise the
block input itself is interpolated.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ligsite.lig.ig import integrate
from ligsite.models.base import Block

def layer_route(block: Block, z: Tensor, targets: Tensor, baseline: str, nodes: np.ndarray,
                weights: np.ndarray) -> tuple[Tensor, Tensor]:
    """Direct z→z: scores [J, T_src] of ``‖LAYER_j(z(α)) − LAYER_j(z')‖`` and L(x) [J]."""
    if block.affine_project:
        start, end = _projected_ends(block, z, targets, baseline)
        result = integrate(_projected_fn(block, heads=False), start, end, nodes, weights, (targets,))
        return _projected_scores(result.attributions, targets).sum(-1), result.value
    start, end = _input_ends(z, targets, baseline)
    result = integrate(_input_fn(block, heads=False), start, end, nodes, weights, (targets,))
    return result.attributions[0].sum(-1), result.value


def att_route(block: Block, z: Tensor, targets: Tensor, baseline: str, nodes: np.ndarray,
              weights: np.ndarray) -> tuple[Tensor, Tensor]:
    """z→u for every head: scores [J, T_src, H] of ``‖ATT_j^h(z(α)) − ATT_j^h(z')‖``, L [J, H]."""
    if block.affine_project:  # heads are disjoint slices of q, K, V: one backward serves all
        start, end = _projected_ends(block, z, targets, baseline)
        result = integrate(_projected_fn(block, heads=True), start[:3], end[:3], nodes, weights,
                           (targets,))
        return _projected_scores(result.attributions, targets), result.value
    # Otherwise every head needs its own copy of the path so its gradient stays separate.
    h = block.n_heads
    start, end = _input_ends(z, targets, baseline)
    copies = lambda x: x.repeat_interleave(h, 0)  # noqa: E731  [J*H, ...]
    heads = torch.arange(h, device=z.device).repeat(len(targets))  # [J*H]
    result = integrate(_input_fn(block, heads=True), tuple(map(copies, start)),
                       tuple(map(copies, end)), nodes, weights, (copies(targets), heads))
    scores = result.attributions[0].sum(-1).view(len(targets), h, -1)  # [J, H, T]
    return scores.transpose(1, 2), result.value.view(len(targets), h)


def mlp_route(block: Block, z: Tensor, targets: Tensor, baseline: str, nodes: np.ndarray,
              weights: np.ndarray) -> tuple[Tensor, Tensor]:
    """u→z: per-head scores [J, H] of ``‖MLP_j(u_j(α)) − MLP_j(u'_j)‖`` and L(x) [J]."""
    q, k, v = block.project(z)  # [T, H, d]
    positions = torch.arange(z.shape[0], device=z.device)
    u = block.attend(q, k, v, positions)[targets].flatten(-2)  # [J, H*d] real head outputs
    # att_itb_a0: with every row equal to z_j attention is uniform over equal values: v_j.
    u_start = v[targets].flatten(-2) if baseline == "att_itb_a0" else torch.zeros_like(u)

    def fn(path: tuple[Tensor, ...], context: tuple[Tensor, ...]) -> Tensor:
        (u_path,), (z_row,) = path, context  # [B, n, H*d], [B, D]
        return block.finish(u_path, z_row.unsqueeze(1).expand(-1, u_path.shape[1], -1))

    result = integrate(fn, (u_start,), (u,), nodes, weights, (z[targets],))
    scores = result.attributions[0].view(len(targets), block.n_heads, -1).sum(-1)  # [J, H]
    return scores, result.value


def _projected_ends(block: Block, z: Tensor, targets: Tensor,
                    baseline: str) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """(q_j, K, V, z_j) at both path ends: [J,H,d], [J,T,H,d], [J,T,H,d], [J,D]."""
    size = (len(targets),) + tuple(z.shape[:1])
    q, k, v = block.project(z)  # [T, H, d]
    end = (q[targets], k.expand(size + k.shape[1:]), v.expand(size + v.shape[1:]), z[targets])
    if baseline == "zero":
        q0, k0, v0 = block.project(torch.zeros_like(z))  # the projections' biases, [T, H, d]
        start = (q0[targets], k0.expand_as(end[1]), v0.expand_as(end[2]), torch.zeros_like(end[3]))
    elif baseline == "self_input_token":  # every row z_j: every projected row is row j's
        start = (q[targets], k[targets].unsqueeze(1).expand_as(end[1]),
                 v[targets].unsqueeze(1).expand_as(end[2]), z[targets])
    else:
        raise ValueError(f"no raw path for baseline {baseline!r}")
    return start, end


def _projected_fn(block: Block, heads: bool):
    """Boundary function on projected inputs: per-head context (att) or the block row (layer)."""

    def fn(path: tuple[Tensor, ...], context: tuple[Tensor, ...]) -> Tensor:
        q, k, v = path[:3]  # [B, n, H, d], [B, n, T, H, d] x2 (layer: + z_row [B, n, D])
        positions = context[0].view(-1, 1, 1).expand(q.shape[0], q.shape[1], 1)  # [B, n, 1]
        u = block.attend(q.unsqueeze(2), k, v, positions).squeeze(2)  # [B, n, H, d]
        return u if heads else block.finish(u.flatten(-2), path[3])

    return fn


def _projected_scores(attributions: tuple[Tensor, ...], targets: Tensor) -> Tensor:
    """Source scores [J, T, H] from (q, K, V[, z_row]) attributions; q, z_row count at i = j."""
    a_q, a_k, a_v = attributions[:3]
    scores = (a_k + a_v).sum(-1)  # [J, T, H]
    rows = torch.arange(len(targets), device=targets.device)
    self_share = a_q.sum(-1)  # [J, H]
    if len(attributions) == 4:  # the residual row (layer route), spread evenly over heads
        self_share = self_share + attributions[3].sum(-1, keepdim=True) / a_q.shape[1]
    scores[rows, targets] += self_share
    return scores


def _input_ends(z: Tensor, targets: Tensor,
                baseline: str) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Block input at both ends, one copy per target: [J, T, D]."""
    end = z.expand((len(targets),) + tuple(z.shape))
    if baseline == "zero":
        return (torch.zeros_like(end),), (end,)
    if baseline == "self_input_token":
        return (z[targets].unsqueeze(1).expand_as(end),), (end,)
    raise ValueError(f"no raw path for baseline {baseline!r}")


def _input_fn(block: Block, heads: bool):
    """Boundary function on the block input: per-(target, head) context, or the block row."""

    def fn(path: tuple[Tensor, ...], context: tuple[Tensor, ...]) -> Tensor:
        (zz,), targets = path[0:1], context[0]  # [B, n, T, D], [B]
        b, n = zz.shape[:2]
        row = targets.view(-1, 1, 1, 1).expand(b, n, 1, zz.shape[-1])
        if "att" not in block.granularities:  # block-only family: the whole block, row j
            return torch.gather(block.layer(zz), 2, row).squeeze(2)  # [B, n, D]
        q, k, v = block.project(zz)  # [B, n, T, H, d]
        q_row = torch.gather(q, 2, targets.view(-1, 1, 1, 1, 1).expand(b, n, 1, *q.shape[3:]))
        u = block.attend(q_row, k, v, targets.view(-1, 1, 1).expand(b, n, 1)).squeeze(2)
        if heads:  # [B, n, H, d] -> this copy's head [B, n, d]
            head = context[1].view(-1, 1, 1, 1).expand(b, n, 1, u.shape[-1])
            return torch.gather(u, 2, head).squeeze(2)
        return block.finish(u.flatten(-2), torch.gather(zz, 2, row).squeeze(2))

    return fn
