"""Switch Transformers (encoder stack): T5's pre-RMSNorm blocks with top-1 mixture-of-experts FFNs.

    x̂ = layer[0].layer_norm(z)                 RMSNorm without mean or bias (T5)
    q, k, v = SelfAttention.q, k, v (x̂)        no biases, no rotary
    o_j^h = Σ_i softmax_i(q_j^h·k_i^h + B^h_ji) v_i^h     no 1/√d scaling (T5); B: relative bias
    r_j = z_j + SelfAttention.o(u_j)
    z(l+1)_j = r_j + FFN(layer[1].layer_norm(r_j))        sparse blocks: p_e(x̂) · expert_e(x̂)

``B`` [H, T, T] depends on positions only: block 0 computes it from its bucket table and the
stack passes it on to every later block, so it is a constant of the block, taken from the call
(block 0's from its own table). The expert of each token is the real forward's top-1 choice
(captured from the router), held fixed along every path; the router's probability stays
differentiable (METHOD.md, mixture-of-experts). Loaded as ``SwitchTransformersEncoderModel``:
the encoder of an encoder–decoder checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from ligsite.models.base import ForwardCache
from ligsite.models.hf import Dims
from ligsite.models.hooks import hidden_states_arg
from ligsite.models.prenorm import FixedRouting, PreNormAdapter, PreNormBlock, PreNormParts, split_heads

MAX_POSITIONS = 512  # relative positions have no table limit; T5's training length


class SwitchAdapter(PreNormAdapter):
    """``encoder.block[l]``: ``layer[0]`` self-attention, ``layer[-1]`` the (sparse) FFN."""

    family = "switch_transformers"
    rotary = False
    model_class = "SwitchTransformersEncoderModel"
    routing = "top-1 expert per token held at the real input's choice; router probability differentiable"
    transformers_floor = "5.18"  # the router's (dispatch, probability, logits) order and expert capacity

    @classmethod
    def dims(cls, config) -> Dims:
        return Dims(int(config.num_layers), int(config.num_heads), int(config.d_kv), int(config.d_model),
                    int(getattr(config, "n_positions", None) or MAX_POSITIONS))

    @classmethod
    def is_causal(cls, config) -> bool:
        return False

    def layers(self) -> Sequence[nn.Module]:
        return self.model.encoder.block

    def forward(self, input_ids: Tensor) -> ForwardCache:
        """The recorded forward, plus each block's attention probabilities and expert choices."""
        with _routing_recorded(self.layers()) as seen:
            cache = super().forward(input_ids)
        self._choices = seen["choice"]  # l -> [T] long (sparse blocks only)
        cache.attention = [seen["probs"][l][0].to(self.dtype) for l in range(self.n_layers)]  # L x [H, T, T]
        cache.experts = [self._choices.get(l) for l in range(self.n_layers)]  # L x [T] long, None: dense
        return cache

    def make_block(self, module: nn.Module, index: int) -> PreNormBlock:
        args, kwargs = self.recorded_call(index, "its position bias and experts")
        weight = next(module.parameters())
        z = hidden_states_arg(args, kwargs)[0].to(weight.device, weight.dtype)  # [T, D]
        t = z.shape[0]
        bias = kwargs.get("position_bias", args[2] if len(args) > 2 else None)
        if bias is None:  # block 0 computes the bias it passes on
            bias = module.layer[0].SelfAttention.compute_bias(t, t, device=weight.device)
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)  # [1, 1, 1, T] additive
        bias = bias[0].to(weight.device, weight.dtype)  # [H, T, T]
        if mask is not None:
            bias = bias + mask.reshape(-1, t)[0].to(bias)
        ff = module.layer[-1]
        moe = None
        if getattr(ff, "is_sparse", False):
            experts = [ff.mlp.experts[f"expert_{e}"] for e in range(ff.mlp.router.num_experts)]
            moe = FixedRouting(ff.mlp.router.classifier, experts, self._choices[index].to(weight.device), z)
        attn, h, d = module.layer[0].SelfAttention, self.n_heads, self.head_dim

        def qkv(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            return tuple(split_heads(lin(x), h, d) for lin in (attn.q, attn.k, attn.v))

        parts = PreNormParts(norm1=module.layer[0].layer_norm, qkv=qkv, out=attn.o, norm2=ff.layer_norm,
                             ffn=ff.mlp, n_heads=h, n_kv_heads=h, head_dim=d, scale=float(attn.scaling),
                             bias=bias, moe=moe)
        allowed = torch.ones(t, t, dtype=torch.bool, device=weight.device)
        return PreNormBlock(index, parts, allowed, None, False, self.hidden_size)


@contextmanager
def _routing_recorded(blocks: Sequence[nn.Module]) -> Iterator[dict]:
    """Record each block's attention probabilities and each sparse block's expert per token."""
    seen: dict = {"probs": {}, "choice": {}}
    handles = []

    def probs(index: int):
        def hook(module: nn.Module, args: tuple, output: tuple) -> None:
            seen["probs"][index] = output[2].detach()  # (output, position_bias, weights)

        return hook

    def choice(index: int):
        def hook(module: nn.Module, args: tuple, output: tuple) -> None:
            dispatch = output[0][0]  # [T, E] one-hot, zero where capacity dropped the token
            picked = dispatch.argmax(-1)
            seen["choice"][index] = torch.where(dispatch.sum(-1) > 0, picked, torch.full_like(picked, -1))

        return hook

    try:
        for index, block in enumerate(blocks):
            handles.append(block.layer[0].SelfAttention.register_forward_hook(probs(index)))
            mlp = block.layer[-1].mlp
            if hasattr(mlp, "router"):
                handles.append(mlp.router.register_forward_hook(choice(index)))
        yield seen
    finally:
        for handle in handles:
            handle.remove()
