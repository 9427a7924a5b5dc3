"""What an adapter exposes: one transformer block cut at the boundaries of METHOD.md.

An adapter knows its family's module layout and nothing about IG. The engine (``ligsite.lig``)
only ever calls the methods below, so adding a family means writing one adapter.

A full-granularity block is written as three pieces, each batched over any leading axes:

    project(z)                     z [..., T, D]            -> q, k, v  [..., T, H, d]
    attend(q, k, v, positions)     q [..., Q, H, d], k/v [..., T, H, d], positions [..., Q]
                                                            -> u        [..., Q, H, d]
    finish(u, z_row)               u [..., H*d], z_row [..., D] -> z_next_row [..., D]

so that, for target j,

    ATT_j^h(z)  = attend(project(z)[q at j], k, v, j)[h]       (the head's context, pre W_O)
    MLP_j(u)    = finish(u, z_j)                             (residual z_j held at its real value)
    LAYER_j(z)  = finish(flatten(ATT_j(z)), z_j)

``positions`` are the query rows' token positions; a causal block masks keys after them, so a
block is causal even when called on its own.

``attend`` must be exactly ``softmax_i(f(scale · q_j·k_i) + bias_ji + mask_ji) v_i`` per head: it
may read q and k only through their per-head dot products (f: the identity or a soft cap; bias
and mask depend on the positions only, e.g. a relative position bias captured from the real
call), and it must be linear in v. The fast paths rely on it: they form the dot products along
their paths themselves and read the weights from the block's

    probabilities(dots, positions)  dots [..., H, Q, T] -> softmax_T(f(scale · dots) + bias + mask)

with ``attend(q, k, v, positions) == probabilities(q·k, positions) · v``
(tests/lig/test_route_contracts.py checks every full-granularity adapter against the model's
own attention). When ``affine_project`` is true (post-LN encoders) q, k, v are affine in z,
which lets the engine project the two ends of a straight path and interpolate instead of
projecting every node (METHOD.md, "Cost"); pre-norm blocks (``rowwise_project``) take the
tangent path.

Optional hooks (absent: the defaults the engine assumes):

    window: int = 0                z_row of ``finish`` is rows j-w..j+w [..., 2w+1, D] (zero
                                   outside the sentence; row j is the residual), for a block that
                                   mixes neighbour rows after attention (DeBERTa-v2's convolution)
    relative_dots(q, k, positions) q [..., Q, H, d], k [..., T, H, d] -> [..., Q, T, H, 2]:
                                   dot products added to q_j·k_i before the scale, the first
                                   linear in q (DeBERTa's c2p), the second linear in k (p2c);
                                   ``attend`` adds them, ``probabilities`` takes full dot products

With ``relative_dots`` the projection-space path puts the relative terms into its dot-product
channels (they are affine in s_q or s_k like the content terms).

Block-only families implement ``layer`` alone (``granularities == ("layer",)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.models.tokens import Tokenized

GRANULARITIES = ("att", "mlp", "layer")


@dataclass(frozen=True)
class Boundary:
    """A named tensor at a block boundary (TransformerLens-style name, shape without batch)."""

    name: str  # e.g. "blocks.3.att.u[h]"
    shape: str  # e.g. "[T, H, d]"
    description: str


@dataclass
class ForwardCache:
    """One no-grad forward of the whole model: every block's real input and output.

    ``z[l]`` is block l's input ``z(l)``, ``z_next[l]`` its own output (not folded with a final
    norm), ``attention[l]`` its attention probabilities ``[H, T_query, T_key]`` (None for
    block-only families).
    """

    input_ids: Tensor  # [T]
    z: list[Tensor]  # L x [T, D]
    z_next: list[Tensor]  # L x [T, D]
    attention: list[Tensor | None] = field(default_factory=list)  # L x [H, T, T]
    # top-1 mixture-of-experts blocks (Switch): L x [T] long, the expert each token used on the
    # real input (-1: dropped by capacity), held fixed along every path; None for a dense block
    experts: list[Tensor | None] | None = None


class Block(Protocol):
    """One transformer block of a loaded model, in the arithmetic dtype of the run."""

    index: int
    granularities: tuple[str, ...]  # ("att", "mlp", "layer") or ("layer",)
    causal: bool
    affine_project: bool
    n_heads: int
    head_dim: int
    hidden_size: int

    def layer(self, z: Tensor) -> Tensor:
        """The whole block: z [..., T, D] -> z(l+1) [..., T, D]."""
        ...

    def project(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v [..., T, H, d] of block input z [..., T, D] (full-granularity families)."""
        ...

    def attend(self, q: Tensor, k: Tensor, v: Tensor, positions: Tensor) -> Tensor:
        """Per-head context u [..., Q, H, d] of queries q at token ``positions`` [..., Q]."""
        ...

    def finish(self, u: Tensor, z_row: Tensor) -> Tensor:
        """Rest of the block for one row: u [..., H*d] with residual z_row [..., D] -> [..., D]."""
        ...


class Adapter(Protocol):
    """A loaded model cut into blocks (``ligsite.models.loading.load`` returns one)."""

    family: str  # adapter family: "bert", "roberta", "distilbert", "gpt2", "mpnet", "modernbert"
    model_type: str  # HF config.model_type
    granularities: tuple[str, ...]  # ("att", "mlp", "layer") or ("layer",)
    n_layers: int
    n_heads: int
    head_dim: int
    hidden_size: int
    max_positions: int  # longest token sequence the position table allows
    causal: bool
    name: str  # the model name as asked for
    identity: str  # cache key of the weights: "id@revision" or "name@sha256:<16 hex>"
    dtype: torch.dtype  # arithmetic dtype: of the forward cache and of blocks by default

    def tokenize(self, text: str) -> Tokenized:
        """input_ids [T], token strings, word ids; InputError for empty or too-long text."""
        ...

    def forward(self, input_ids: Tensor) -> ForwardCache:
        """One no-grad forward that records every block's input, output and attention,
        returned in the arithmetic dtype ``self.dtype`` on the model's device."""
        ...

    def block(self, index: int, dtype: torch.dtype | None = None, device: torch.device | None = None) -> Block:
        """Block ``index`` with its weights in ``dtype`` on ``device`` (defaults: ``self.dtype``,
        the model's device). Block-only families need ``forward`` first (they replay its call)."""
        ...

    def boundaries(self, index: int) -> list[Boundary]:
        """The named boundaries of block ``index`` (for describe_boundaries)."""
        ...
