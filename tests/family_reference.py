"""Independent float64 reference of LIG's att / mlp / layer routes through a family's own HF layer.

For the families of issue 10 (ALBERT, DeBERTa, MPNet, Switch; any layer whose output projection's input is
``u = concat_h c^h``): the layer module is called exactly as the model's forward called it (the
arguments captured by a pre-hook during a real float64 forward, in call order, so a module shared
by several blocks — ALBERT — gives one call per block), broadcast over a batch of path points.
Nothing from ligsite is imported. Per target j all nodes go through the layer in one batch;
gradients by autograd, one per (target, head).

- ``layer``: f = row j of the layer's output.
- ``att``:   f = head h's slice of the output projection's input at row j (a pre-hook stops the
  layer there).
- ``mlp``:   f = row j of the layer's output with row j of the output projection's input replaced
  by the path point (the residual z_j and every other row at their real values).
Baselines: zero, self_input_token (every row z_j), att_itb_a0 (u at every row = z_j, row j).
Layouts: layer [T_src, T_tgt]; att [H, T_src, T_tgt]; mlp [T_tgt, H].
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

F64 = torch.float64


class _Stop(Exception):
    pass


@dataclass
class LayerCall:
    """Block l's HF layer module, its captured call and the module whose input is u."""

    layer: nn.Module
    args: tuple
    kwargs: dict
    out: nn.Module  # output projection: its input is u [N, T, H·d]
    heads: int
    head_dim: int
    patches: Callable[[], contextlib.AbstractContextManager] = field(default=contextlib.nullcontext)
    after: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  # (X, layer output) -> block output

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """The layer on block inputs X [N, T, D] -> [N, T, D] (then ``after``, e.g. DeBERTa-v2's
        encoder convolution of block 0, which reads X itself)."""
        with self.patches():
            out = self.layer(X, *self.args, **self.kwargs)
            out = out[0] if isinstance(out, (tuple, list)) else out
            return out if self.after is None else self.after(X, out)

    def u(self, X: torch.Tensor) -> torch.Tensor:
        """The output projection's input [N, T, H·d] on block inputs X [N, T, D]."""
        box = {}

        def hook(module, args):
            box["u"] = args[0]
            raise _Stop

        handle = self.out.register_forward_pre_hook(hook)
        try:
            self.forward(X)
        except _Stop:
            pass
        finally:
            handle.remove()
        return box["u"]

    def mlp(self, z: torch.Tensor, j: int, U: torch.Tensor) -> torch.Tensor:
        """Row j of the output [N, D] with row j of u replaced by U [N, H·d], z [T, D] fixed."""

        def hook(module, args):
            u = args[0]
            return (torch.cat([u[:, :j], U[:, None].to(u.dtype), u[:, j + 1:]], 1),) + tuple(args[1:])

        handle = self.out.register_forward_pre_hook(hook)
        try:
            return self.forward(z[None].expand(U.shape[0], -1, -1))[:, j]
        finally:
            handle.remove()


def capture(model: nn.Module, layers: list[nn.Module], input_ids: torch.Tensor,
            patches: Callable = contextlib.nullcontext) -> list[tuple[tuple, dict, torch.Tensor]]:
    """Per block (in call order): (args after hidden_states, kwargs, block input z [T, D])."""
    calls, handles = [], []

    def pre(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        rest = {k: v for k, v in kwargs.items() if k != "hidden_states"}
        calls.append((tuple(args[1:]), rest, hidden[0].detach().clone()))

    for module in {id(m): m for m in layers}.values():
        handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))
    try:
        with torch.no_grad(), patches():
            model(input_ids=input_ids.reshape(1, -1))
    finally:
        for handle in handles:
            handle.remove()
    return calls


def _safe_norm(diff: torch.Tensor) -> torch.Tensor:
    nonzero = (diff != 0).any(-1)
    sq = diff.pow(2).sum(-1)
    return torch.where(nonzero, torch.sqrt(torch.where(nonzero, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def _ig(f, x: torch.Tensor, xb: torch.Tensor, nodes, weights) -> tuple[torch.Tensor, torch.Tensor]:
    """IG of ‖f(x(α))_k − f(x')_k‖ per output k; f: [N, *x.shape] -> [N, K, m]. (IG [K, *x], L [K])."""
    alphas = torch.as_tensor(np.asarray(nodes), dtype=F64)
    w = torch.as_tensor(np.asarray(weights), dtype=F64)
    with torch.no_grad():
        f_base, f_real = f(xb[None])[0], f(x[None])[0]
    delta = x - xb
    X = (xb[None] + alphas.reshape((-1,) + (1,) * x.dim()) * delta[None]).detach().requires_grad_(True)
    Lk = _safe_norm(f(X) - f_base[None])  # [N, K]
    igs = [delta * torch.autograd.grad((w * Lk[:, k]).sum(), X, retain_graph=k < Lk.shape[1] - 1)[0].sum(0)
           for k in range(Lk.shape[1])]
    return torch.stack(igs), (f_real - f_base).norm(dim=-1)


def _start(z: torch.Tensor, j: int, baseline: str) -> torch.Tensor:
    return torch.zeros_like(z) if baseline == "zero" else z[j].expand_as(z).clone()


def layer_map(call: LayerCall, z: torch.Tensor, baseline: str, nodes, weights) -> np.ndarray:
    """[T_src, T_tgt]."""
    t = z.shape[0]
    cols = [_ig(lambda X, j=j: call.forward(X)[:, j][:, None], z, _start(z, j, baseline), nodes, weights)[0][0].sum(-1)
            for j in range(t)]
    return torch.stack(cols, 1).detach().numpy()


def att_map(call: LayerCall, z: torch.Tensor, baseline: str, nodes, weights) -> np.ndarray:
    """[H, T_src, T_tgt]."""
    h, d = call.heads, call.head_dim
    cols = []
    for j in range(z.shape[0]):
        ig, _ = _ig(lambda X, j=j: call.u(X)[:, j].reshape(X.shape[0], h, d), z, _start(z, j, baseline), nodes, weights)
        cols.append(ig.sum(-1))  # [H, T_src]
    return torch.stack(cols, -1).detach().numpy()


def att_itb_a0(call: LayerCall, z: torch.Tensor, j: int) -> torch.Tensor:
    """u at every row equal to z_j, row j: [H·d]."""
    with torch.no_grad():
        return call.u(z[j].expand_as(z)[None].clone())[0, j]


def mlp_map(call: LayerCall, z: torch.Tensor, baseline: str, nodes, weights) -> np.ndarray:
    """[T_tgt, H]."""
    with torch.no_grad():
        u = call.u(z[None])[0]  # [T, H·d]
    rows = []
    for j in range(z.shape[0]):
        ub = torch.zeros_like(u[j]) if baseline == "zero" else att_itb_a0(call, z, j)
        ig, _ = _ig(lambda U, j=j: call.mlp(z, j, U)[:, None], u[j], ub, nodes, weights)
        rows.append(ig[0].reshape(call.heads, -1).sum(-1))
    return torch.stack(rows).detach().numpy()


def rel(a, b) -> float:
    """‖a − b‖_F / ‖b‖_F."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
