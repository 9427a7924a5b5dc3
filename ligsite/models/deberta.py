"""DeBERTa v1 (``deberta``) and v2/v3 (``deberta-v2``): BERT's post-LN block with disentangled
attention (METHOD.md, "Other blocks").

    s_ji^h   = scale · (q_j·k_i + q_j·Kr[c2p(j,i)] + k_i·Qr[p2c(j,i)]) + mask_ji
    c_j^h    = Σ_i softmax_i(s_ji^h) v_i^h              scale = 1/√(d · (1 + number of terms))
    a_j      = attention.output.LayerNorm(u_j W_O + b_O + z_j)
    z(l+1)_j = output.LayerNorm(a_j + FFN(a_j))

Kr, Qr [R, H, d] are the relative-position embeddings projected once per block (c2p through
``pos_key_proj``, v1 ``pos_proj``; p2c through ``pos_query_proj``, v1 ``pos_q_proj``; v2 with
``share_att_key`` through the content projections), indexed by the bucketed relative position
of the layer's real call (its embeddings and mask taken from the call too). So c2p is linear in
q_j and p2c in k_i: ``relative_dots`` gives both, and the projection-space fast path puts them
into its dot-product channels (``ligsite.lig.routes``). q, k, v are affine in z (v1: one
``in_proj`` with per-head q|k|v rows, plus ``q_bias`` and ``v_bias``).

v2's convolution (``encoder.conv``: kernel over rows j-w..j+w, its activation, its own
LayerNorm, applied by the encoder after block 0 on block 0's *input*) belongs to LAYER_0:
block 0 has ``window = w`` and ``finish`` reads rows j-w..j+w, so MLP_0 holds the convolution at
their real values. v1's DebertaLayerNorm computes in float32 even for float64 input; the block
computes it in the run's dtype. v1's talking heads mix heads: refused.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ligsite.errors import ModelError
from ligsite.models.attention import all_positions
from ligsite.models.base import ForwardCache
from ligsite.models.bert import PostLNBlock, PostLNPieces
from ligsite.models.hf import HFAdapter
from ligsite.models.hooks import hidden_states_arg


@dataclass(frozen=True)
class Relative:
    """The position side of disentangled attention for one sentence of T tokens."""

    keys: Tensor | None  # Kr [R, H, d] (c2p), None without c2p
    queries: Tensor | None  # Qr [R, H, d] (p2c), None without p2c
    c2p: Tensor  # [T, T] long (query j, key i): row of Kr
    p2c: Tensor  # [T, T] long (query j, key i): row of Qr


class DebertaBlock(PostLNBlock):
    """A post-LN block whose attention adds the relative dot products (and, for v2's block 0,
    whose ``finish`` reads a window of rows for the convolution)."""

    def __init__(self, index: int, pieces: PostLNPieces, n_heads: int, head_dim: int, mask: Tensor | None,
                 relative: Relative | None, conv: nn.Module | None = None):
        super().__init__(index, pieces, n_heads, head_dim, causal=False, bias=mask)  # mask: [H, T, T] or None
        self.relative, self.conv = relative, conv
        self.window = (conv.conv.kernel_size[0] - 1) // 2 if conv is not None else 0
        if conv is not None:
            from transformers.activations import ACT2FN

            self.conv_act = ACT2FN[conv.conv_act]

    def relative_dots(self, q: Tensor, k: Tensor, positions: Tensor) -> Tensor:
        """(q_j·Kr[c2p(j,i)], k_i·Qr[p2c(j,i)]) [..., Q, T, H, 2] of q [..., Q, H, d] at
        ``positions`` [..., Q] and k [..., T, H, d]; a term the block lacks is 0."""
        rel, t = self.relative, k.shape[-3]
        zero = q.new_zeros(q.shape[:-3] + (q.shape[-3], t, q.shape[-2]))  # [..., Q, T, H]
        if rel is None:
            return torch.stack((zero, zero), -1)
        c2p = zero if rel.keys is None else _query_side(q, rel.keys, rel.c2p[positions][..., :t])
        p2c = zero if rel.queries is None else _key_side(k, rel.queries, rel.p2c[positions][..., :t])
        return torch.stack((c2p, p2c), -1)  # [..., Q, T, H, 2]

    def attend(self, q: Tensor, k: Tensor, v: Tensor, positions: Tensor, padding: Tensor | None = None) -> Tensor:
        """Disentangled attention: per (query, key) the content and relative dot products summed,
        then the shared scale, mask and softmax (``probabilities``). [..., Q, H, d]."""
        dots = torch.einsum("...qhd,...thd->...hqt", q, k) + self.relative_dots(q, k, positions).sum(-1).movedim(-1, -3)
        probs = self.probabilities(dots, positions, padding)  # [..., H, Q, T]
        return torch.einsum("...hqt,...thd->...qhd", probs, v)

    def finish(self, u: Tensor, z_row: Tensor) -> Tensor:
        """u [..., H*d] with z_row [..., D] (block 0 with a convolution: rows j-w..j+w [..., 2w+1, D])."""
        if self.conv is None:
            return super().finish(u, z_row)
        out = super().finish(u, z_row[..., self.window, :])  # [..., D]
        w, d = z_row.shape[-2:]
        flat = z_row.reshape(-1, w, d).transpose(1, 2)  # [N, D, 2w+1]
        conv = self.conv.conv
        mixed = F.conv1d(flat, conv.weight, conv.bias, groups=conv.groups).reshape(out.shape)  # [..., D]
        return self.conv.LayerNorm(out + self.conv_act(mixed))

    def layer(self, z: Tensor) -> Tensor:
        u = self.attend(*self.project(z), all_positions(z)).flatten(-2)  # [..., T, H*d]
        if not self.window:
            return self.finish(u, z)
        w = self.window
        padded = F.pad(z, (0, 0, w, w))  # [..., T + 2w, D], zero rows outside the sentence
        return self.finish(u, padded.unfold(-2, 2 * w + 1, 1).transpose(-1, -2))  # rows [..., T, 2w+1, D]


def _query_side(q: Tensor, table: Tensor, index: Tensor) -> Tensor:
    """q_j · table[index[j, i]] [..., Q, T, H] of q [..., Q, H, d], table [R, H, d], index [..., Q, T].

    Few queries (the fast path's one per target): gather the table rows, O(Q·T·H·d); many: dot
    every query with the whole table first, O(Q·H·R·d), and pick, so nothing [Q, T, H, d] is formed.
    """
    if q.shape[-3] * table.shape[-1] <= table.shape[0]:
        return torch.einsum("...qhd,...qthd->...qth", q, table[index])
    scores = torch.einsum("...qhd,rhd->...qhr", q, table)  # [..., Q, H, R]
    picked = torch.gather(scores, -1, index.unsqueeze(-2).expand(*scores.shape[:-1], index.shape[-1]))
    return picked.transpose(-1, -2)  # [..., Q, T, H]


def _key_side(k: Tensor, table: Tensor, index: Tensor) -> Tensor:
    """k_i · table[index[j, i]] [..., Q, T, H] of k [..., T, H, d], table [R, H, d], index [..., Q, T]
    (as ``_query_side``: gathered table rows for few queries, else every key against the table)."""
    if index.shape[-2] * table.shape[-1] <= table.shape[0]:
        return torch.einsum("...thd,...qthd->...qth", k, table[index])
    scores = torch.einsum("...thd,rhd->...thr", k, table)  # [..., T, H, R]
    per_key = index.transpose(-1, -2).unsqueeze(-2)  # [..., T, 1, Q]
    picked = torch.gather(scores, -1, per_key.expand(*scores.shape[:-1], per_key.shape[-1]))  # [..., T, H, Q]
    return picked.movedim(-1, -3)  # [..., Q, T, H]


class _Linear(nn.Module):
    """x W^T (+ b) with W, b taken from a module's parameters (v1's per-head slices of in_proj)."""

    def __init__(self, weight: Tensor, bias: Tensor | None):
        super().__init__()
        self.weight, self.bias = weight, bias

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)


class _LayerNorm(nn.Module):
    """DebertaLayerNorm (v1) in the input's dtype: HF's casts to float32 first."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.weight, self.bias, self.eps = module.weight, module.bias, float(module.variance_epsilon)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


def _norm(module: nn.Module) -> nn.Module:
    return module if isinstance(module, nn.LayerNorm) else _LayerNorm(module)


def _scale(att: nn.Module, d: int, v1: bool) -> float:
    """1/√(d · factor) with HF's float32 square root; factor = 1 + the relative terms."""
    types = list(att.pos_att_type)
    factor = 1 + (len(types) if v1 else ("c2p" in types) + ("p2c" in types))
    return 1.0 / float(torch.sqrt(torch.tensor(d, dtype=torch.float) * factor))


class DebertaAdapter(HFAdapter):
    """``encoder.layer[l]`` (DebertaLayer / DebertaV2Layer); positions, embeddings and mask come
    from the recorded call, v2's ``encoder.conv`` joins block 0."""

    family = "deberta"
    forward_kwargs = {"output_attentions": True}  # DeBERTa returns probabilities only then

    def __init__(self, model: nn.Module, *args, **kwargs):
        if getattr(model.config, "talking_head", False):
            raise ModelError("DeBERTa with talking heads (config.talking_head = true) mixes heads before and "
                             "after the softmax, so no head has its own ATT/MLP boundary; ligsite supports "
                             "DeBERTa without them")
        super().__init__(model, *args, **kwargs)

    def layers(self) -> Sequence[nn.Module]:
        return self.model.encoder.layer

    def attention_module(self, layer: nn.Module) -> nn.Module:
        return layer.attention.self

    def forward(self, input_ids: Tensor) -> ForwardCache:
        """The recorded forward; with a convolution, block 0's own output is the one after it."""
        cache = super().forward(input_ids)
        if self._conv() is not None:
            with torch.no_grad():
                cache.z_next[0] = self.block(0).layer(cache.z[0])  # [T, D]
        return cache

    def _conv(self) -> nn.Module | None:
        return getattr(self.model.encoder, "conv", None)

    def make_block(self, module: nn.Module, index: int) -> DebertaBlock:
        args, kwargs = self.recorded_call(index, "its relative positions")
        weight = next(module.parameters())
        t = hidden_states_arg(args, kwargs).shape[-2]
        att, inter, out = module.attention.self, module.intermediate, module.output
        v1 = hasattr(att, "in_proj")
        h, d = self.n_heads, self.head_dim
        if v1:  # in_proj rows: per head q | k | v
            w = att.in_proj.weight.view(h, 3, d, -1)
            query, key, value = (_Linear(w[:, i].reshape(h * d, -1), b)
                                 for i, b in enumerate((att.q_bias, None, att.v_bias)))
        else:
            query, key, value = att.query_proj, att.key_proj, att.value_proj
        pieces = PostLNPieces(
            query=query, key=key, value=value, out=module.attention.output.dense,
            ln1=_norm(module.attention.output.LayerNorm), ffn_in=inter.dense, act=inter.intermediate_act_fn,
            ffn_out=out.dense, ln2=_norm(out.LayerNorm), scale=_scale(att, d, v1),
        )
        mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
        allowed = torch.ones(t, t, dtype=torch.bool) if mask is None else mask.reshape(-1, t, t)[0].bool()
        bias = None if bool(allowed.all()) else torch.zeros(h, t, t, dtype=weight.dtype, device=weight.device).masked_fill(
            ~allowed.to(weight.device), float("-inf"))  # [H, T, T] (padding only)
        relative = _relative(att, kwargs, t, v1, weight)
        conv = self._conv() if index == 0 else None
        if conv is not None and (next(conv.parameters()).dtype != weight.dtype
                                 or next(conv.parameters()).device != weight.device):
            conv = copy.deepcopy(conv).to(device=weight.device, dtype=weight.dtype).requires_grad_(False)
        return DebertaBlock(index, pieces, h, d, bias, relative, conv)


def _relative(att: nn.Module, kwargs: dict, t: int, v1: bool, weight: Tensor) -> Relative | None:
    """Kr, Qr and their index tables as the layer's real call computes them (None without
    relative attention)."""
    embeddings, positions = kwargs.get("rel_embeddings"), kwargs.get("relative_pos")
    if not getattr(att, "relative_attention", False) or embeddings is None:
        return None
    embeddings = embeddings.to(weight.device, weight.dtype)
    if positions is None:  # HF always passes them; plain j - i would be wrong for v2's log buckets
        raise ModelError(f"{type(att).__name__} was called without relative_pos: this transformers version "
                         "computes DeBERTa's relative positions elsewhere; ligsite cannot replay them")
    rel = positions.reshape(-1, t, t)[0].to(weight.device, torch.long)  # [T_query, T_key]: j - i, bucketed
    types = list(att.pos_att_type)
    h = att.num_attention_heads
    if v1:
        span = min(t, att.max_relative_positions)
        table = embeddings[att.max_relative_positions - span: att.max_relative_positions + span]
        key_proj, query_proj = getattr(att, "pos_proj", None), getattr(att, "pos_q_proj", None)
    else:
        span = att.pos_ebd_size
        table = embeddings[: 2 * span]
        if att.share_att_key:
            key_proj, query_proj = att.key_proj, att.query_proj
        else:
            key_proj, query_proj = getattr(att, "pos_key_proj", None), getattr(att, "pos_query_proj", None)
    keys = key_proj(table).unflatten(-1, (h, -1)) if "c2p" in types else None  # [R, H, d]
    queries = query_proj(table).unflatten(-1, (h, -1)) if "p2c" in types else None  # [R, H, d]
    c2p = (rel + span).clamp(0, 2 * span - 1)  # [j, i]
    p2c = (span - rel).clamp(0, 2 * span - 1).T  # HF: index [i, j] = span - rel[i, j], read at (j, i)
    return Relative(keys, queries, c2p, p2c)
