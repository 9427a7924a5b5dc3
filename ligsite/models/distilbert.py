"""DistilBERT: the same post-LN block as BERT under other module names, so full granularity.

    a_j = sa_layer_norm(out_lin(u_j) + z_j),  z(l+1)_j = output_layer_norm(a_j + lin2(act(lin1(a_j))))
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ligsite.models.bert import PostLNBlock, PostLNPieces
from ligsite.models.hf import HFAdapter


class DistilBertAdapter(HFAdapter):
    """``transformer.layer[l]`` (TransformerBlock)."""

    family = "distilbert"

    def layers(self) -> Sequence[nn.Module]:
        return self.model.transformer.layer

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.attention

    def make_block(self, module: nn.Module, index: int) -> PostLNBlock:
        att, ffn = module.attention, module.ffn
        pieces = PostLNPieces(
            query=att.q_lin, key=att.k_lin, value=att.v_lin, out=att.out_lin,
            ln1=module.sa_layer_norm, ffn_in=ffn.lin1, act=ffn.activation,
            ffn_out=ffn.lin2, ln2=module.output_layer_norm, scale=float(att.scaling),
        )
        return PostLNBlock(index, pieces, self.n_heads, self.head_dim, causal=False)
