"""BERT-layout post-LN encoders (BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA).

    a_j      = LN1(u_j W_O + b_O + z_j)          u_j = concat_h c_j^h (pre output projection)
    z(l+1)_j = LN2(a_j + FFN(a_j))

q, k, v are affine in z, so ``affine_project`` is true. The HF modules do the arithmetic
(their Linear and LayerNorm weights, the config's activation object), so nothing is re-derived.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from ligsite.models.attention import all_positions, attend, probabilities
from ligsite.models.base import GRANULARITIES
from ligsite.models.hf import HFAdapter


@dataclass(frozen=True)
class PostLNPieces:
    """The modules of one post-LN block, whatever the family calls them."""

    query: nn.Linear
    key: nn.Linear
    value: nn.Linear
    out: nn.Linear  # W_O, b_O
    ln1: nn.Module
    ffn_in: nn.Linear
    act: Callable[[Tensor], Tensor]
    ffn_out: nn.Linear
    ln2: nn.Module
    scale: float  # 1/sqrt(d)


class PostLNBlock:
    """project / attend / finish of a post-LN encoder block (see ``ligsite.models.base``)."""

    granularities = GRANULARITIES
    affine_project = True

    def __init__(self, index: int, pieces: PostLNPieces, n_heads: int, head_dim: int, causal: bool = False,
                 bias: Tensor | None = None):
        self.index, self.pieces, self.causal = index, pieces, causal
        self.n_heads, self.head_dim = n_heads, head_dim
        self.hidden_size = pieces.ln1.weight.shape[-1]
        self.bias = bias  # [H, T, T] added to the scaled scores (MPNet's relative positions), or None

    @property
    def shares_calls(self) -> bool:
        """Whether targets of different sentences may share one padded IG call
        (``ligsite.lig.batch``): yes unless the block holds one sentence's constants, a bias added
        to the scores (MPNet's positions, a captured mask) or the optional hooks of
        ``ligsite.models.base`` a subclass adds (DeBERTa's ``relative_dots`` and ``window``)."""
        return self.bias is None and not hasattr(self, "relative_dots") and not getattr(self, "window", 0)

    def project(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p, shape = self.pieces, (self.n_heads, self.head_dim)
        return tuple(lin(z).unflatten(-1, shape) for lin in (p.query, p.key, p.value))  # 3 x [..., T, H, d]

    def attend(self, q: Tensor, k: Tensor, v: Tensor, positions: Tensor, padding: Tensor | None = None) -> Tensor:
        return attend(q, k, v, positions, self.pieces.scale, self.causal, self.bias,
                      padding=padding)  # [..., Q, H, d]

    def probabilities(self, dots: Tensor, positions: Tensor, padding: Tensor | None = None) -> Tensor:
        """The attention weights [..., H, Q, T] from the full dot products [..., H, Q, T] of queries
        at ``positions`` [..., Q]: scale, bias (MPNet's positions), mask, softmax. ``attend`` is
        these weights times v; the projection-space path forms its dot products itself."""
        return probabilities(dots, positions, self.pieces.scale, self.causal, self.bias, padding=padding)

    def finish(self, u: Tensor, z_row: Tensor) -> Tensor:
        p = self.pieces
        a = p.ln1(p.out(u) + z_row)  # [..., D]
        return p.ln2(a + p.ffn_out(p.act(p.ffn_in(a))))  # [..., D]

    def layer(self, z: Tensor) -> Tensor:
        u = self.attend(*self.project(z), all_positions(z))  # [..., T, H, d]
        return self.finish(u.flatten(-2), z)  # [..., T, D]


class BertAdapter(HFAdapter):
    """BERT and the RoBERTa-likes: ``encoder.layer[l]`` with BertLayer's module names."""

    family = "bert"

    def layers(self) -> Sequence[nn.Module]:
        return self.model.encoder.layer

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.attention.self

    def make_block(self, module: nn.Module, index: int) -> PostLNBlock:
        att = module.attention
        pieces = PostLNPieces(
            query=att.self.query, key=att.self.key, value=att.self.value,
            out=att.output.dense, ln1=att.output.LayerNorm,
            ffn_in=module.intermediate.dense, act=module.intermediate.intermediate_act_fn,
            ffn_out=module.output.dense, ln2=module.output.LayerNorm,
            scale=float(att.self.scaling),
        )
        return PostLNBlock(index, pieces, self.n_heads, self.head_dim, self.causal)


class RobertaAdapter(BertAdapter):
    """RoBERTa-likes share BERT's layer; their positions start after ``padding_idx``."""

    family = "roberta"
    position_offset = True
