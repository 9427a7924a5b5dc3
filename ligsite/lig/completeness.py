"""Run one route over a set of targets, with completeness ratios and ``steps="auto"``.

``ratio = Σ_i score_i / L(x)`` per target (per head for att). A column with ``L(x) = 0`` has
nothing to attribute: its scores are exactly 0 and its ratio NaN (reported as missing, no
warning). With ``steps="auto"`` the node count starts at 32 and doubles, for the targets that
still miss the tolerance only, up to 1024; the ones that still miss are reported by the caller.

On the layer route of a pre-norm zero path completeness cannot prove convergence: the residual
``αz_j`` dominates ``L`` while the cross-token shares live at tiny α (METHOD.md). There auto
also doubles until each target's off-diagonal column sum moves by at most ``CROSS_CHANGE · L``
between n and 2n nodes, and keeps the 2n result: on these integrands Gauss–Legendre's error
roughly squares when n doubles (measured), so the kept result is within ~``CROSS_CHANGE²`` of L.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ligsite.lig.batch import Padded
from ligsite.lig.quadrature import LOG_FLOOR, log_placed, rule
from ligsite.lig.routes import att_route, layer_route, mlp_route
from ligsite.models.base import Block

AUTO_START, AUTO_CAP = 32, 1024
CROSS_CHANGE = 0.02  # |Δ off-diagonal column sum| / L allowed between n and 2n nodes (layer, pre-norm zero)
ROUTES = {"att": (att_route, 1), "mlp": (mlp_route, -1), "layer": (layer_route, -1)}  # fn, source axis


@dataclass
class RouteRun:
    """One raw run over J targets: att scores [J, T, H], mlp [J, H], layer [J, T]."""

    scores: Tensor
    value: Tensor  # L(x): att [J, H], mlp / layer [J]
    ratio: Tensor  # completeness, shape of value; NaN where L(x) = 0
    steps: Tensor  # nodes used per target [J]


def run_route(granularity: str, block: Block, z: Tensor, targets: Tensor, baseline: str,
              quadrature: str, steps: int | str, tolerance: float, batch: Padded | None = None) -> RouteRun:
    """``granularity``'s route for ``targets`` on block input z [T, D]; doubles nodes if auto.

    ``batch``: z is a padded batch of sentences [S, T, D] (``ligsite.lig.batch``) and the
    targets are theirs; auto doubles per target, so each sentence gets the nodes it gets alone.
    """
    n = AUTO_START if steps == "auto" else int(steps)
    result = _once(granularity, block, z, targets, baseline, quadrature, n, batch)
    converging = (granularity == "layer" and baseline == "zero" and quadrature == "gauss-legendre"
                  and getattr(block, "rowwise_project", False))
    pending = torch.full((len(targets),), converging, dtype=torch.bool, device=targets.device)
    while steps == "auto" and n < AUTO_CAP:
        missing = misses(result.ratio, expected_ratios(quadrature, result.steps), tolerance) | pending  # [J]
        if not bool(missing.any()):
            break
        n *= 2
        again = _once(granularity, block, z, targets[missing], baseline, quadrature, n,
                      None if batch is None else batch.subset(missing))
        if converging:  # still moving: the cross-token mass changed between n and 2n nodes
            before = cross_token(result.scores[missing], targets[missing])
            moved = (cross_token(again.scores, targets[missing]) - before).abs() > CROSS_CHANGE * again.value
            pending = torch.zeros_like(pending).masked_scatter(missing, moved)
        for name in ("scores", "value", "ratio", "steps"):
            getattr(result, name)[missing] = getattr(again, name)
    return result


def cross_token(scores: Tensor, targets: Tensor) -> Tensor:
    """Each target's off-diagonal column sum: layer scores [J, T_src] -> [J]."""
    return scores.sum(-1) - scores[torch.arange(len(targets), device=scores.device), targets]


def expected_ratios(quadrature: str, steps: Tensor) -> Tensor:
    """Each target's perfect ratio [J] at its own node count: 1, or (n-1)/n for trapezoid-captum.

    Per target, not per round: a target that passed at n keeps its n-node ratio while others
    double, and must be judged against n's expectation (and so the same as when it runs alone).
    """
    counts = steps.unique().tolist()
    perfect = {n: float(rule(quadrature, n)[1].sum()) for n in counts}
    table = torch.tensor([perfect[n] for n in counts], dtype=torch.float64, device=steps.device)
    return table[torch.searchsorted(torch.tensor(counts, device=steps.device), steps)]


def misses(ratio: Tensor, expected: float | Tensor, tolerance: float) -> Tensor:
    """Targets [J] with any ratio (any head) farther than ``tolerance`` from ``expected``
    (one value, or one per target [J])."""
    if isinstance(expected, Tensor):
        expected = expected.to(ratio.dtype).view((-1,) + (1,) * (ratio.dim() - 1))
    off = (ratio - expected).abs() > tolerance  # NaN compares False: nothing to attribute
    return off.reshape(off.shape[0], -1).any(-1)


def nodes_for(granularity: str, block: Block, z: Tensor, baseline: str, quadrature: str,
              n: int) -> tuple:
    """The rule's n nodes and weights; log-placed on pre-norm zero paths (see quadrature.py)."""
    alpha_star = getattr(block, "alpha_star", None)
    if (quadrature == "gauss-legendre" and baseline == "zero" and alpha_star is not None
            and (scale := alpha_star(z, granularity)) is not None):
        return log_placed(n, float(min(LOG_FLOOR * scale.min(), 0.5)))
    return rule(quadrature, n)


def _once(granularity: str, block: Block, z: Tensor, targets: Tensor, baseline: str,
          quadrature: str, n: int, batch: Padded | None = None) -> RouteRun:
    """One route at n nodes; columns with L(x) = 0 forced to exact zeros and a NaN ratio."""
    route, source_axis = ROUTES[granularity]
    nodes, weights = nodes_for(granularity, block, z, baseline, quadrature, n)
    shared = {} if batch is None else {"batch": batch}  # the tangent route takes one sentence only
    scores, value = route(block, z, targets, baseline, nodes, weights, **shared)
    empty = value == 0  # [J(, H)]; att scores [J, T, H] take it at the source axis 1
    scores = scores.masked_fill(empty.unsqueeze(source_axis), 0.0)
    total = scores.sum(source_axis)
    ratio = torch.where(empty, torch.full_like(total, float("nan")), total / torch.where(empty, 1.0, value))
    return RouteRun(scores, value, ratio, torch.full((len(targets),), n, dtype=torch.long, device=targets.device))
