"""MPNet: BERT's post-LN block with a relative position bias added to the attention logits.

    c_j^h    = Σ_i softmax_i(q_j^h·k_i^h/√d + B^h_ji + mask_i) v_i^h    B: relative position bias
    a_j      = attention.LayerNorm(u_j W_O + b_O + z_j)                 W_O = attention.attn.o
    z(l+1)_j = output.LayerNorm(a_j + FFN(a_j))

``B`` [H, T, T] depends on positions only (the encoder computes it once from its bucket table
and passes it to every layer), so it is a constant of the block like the mask: taken from the
layer's real call, with the (additive) mask folded in. q, k, v are affine in z, so the
projection-space fast path applies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ligsite.models.bert import PostLNBlock, PostLNPieces
from ligsite.models.hf import HFAdapter
from ligsite.models.hooks import hidden_states_arg


def call_bias(args: tuple, kwargs: dict, names: tuple[str, str], t: int) -> Tensor:
    """Position bias plus additive mask of one captured layer call, as [H or 1, T, T].

    ``names`` are the call's (mask, bias) keywords; positional arguments follow hidden_states
    in that order. A missing part counts as zero.
    """
    positional = dict(zip(names, args[1:3]))
    total = torch.zeros(1, t, t)
    for name in names:
        part = kwargs.get(name, positional.get(name))
        if part is not None:
            part = part.reshape(-1, *part.shape[-3:])[0] if part.dim() == 4 else part  # [H or 1, T or 1, T]
            total = total.to(part.device, part.dtype) + part
    return total


class MPNetAdapter(HFAdapter):
    """``encoder.layer[l]`` (MPNetLayer); its bias comes from the recorded call."""

    family = "mpnet"
    position_offset = True
    forward_kwargs = {"output_attentions": True}  # MPNet's attention returns probabilities only then

    def layers(self) -> Sequence[nn.Module]:
        return self.model.encoder.layer

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.attention.attn

    def make_block(self, module: nn.Module, index: int) -> PostLNBlock:
        args, kwargs = self.recorded_call(index, "its position bias")
        weight = next(module.parameters())
        t = hidden_states_arg(args, kwargs).shape[-2]
        bias = call_bias(args, kwargs, ("attention_mask", "position_bias"), t)
        bias = bias.to(weight.device, weight.dtype).expand(self.n_heads, t, t)  # [H, T, T]
        att, inter, out = module.attention, module.intermediate, module.output
        pieces = PostLNPieces(
            query=att.attn.q, key=att.attn.k, value=att.attn.v, out=att.attn.o, ln1=att.LayerNorm,
            ffn_in=inter.dense, act=inter.intermediate_act_fn, ffn_out=out.dense, ln2=out.LayerNorm,
            scale=float(att.attn.attention_head_size) ** -0.5,
        )
        return PostLNBlock(index, pieces, self.n_heads, self.head_dim, causal=False, bias=bias)
