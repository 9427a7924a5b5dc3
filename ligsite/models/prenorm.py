"""Pre-norm blocks (GPT-2, Llama, Mistral, Qwen2/3, Gemma 1/2/3, ModernBERT), cut as METHOD.md says.

    x̂    = N1(z)                                row-wise norm (LayerNorm, RMSNorm, Gemma's 1 + w)
    q,k,v = x̂ W (+b), per-head q/k norms, RoPE   row-wise: row i's q, k, v depend on z_i and i only
    u_j   = concat_h attention of query head h at j over the keys the layer's mask lets j see
    r_j   = z_j + P_a(u_j W_O (+b))              P_a: identity or a post-attention norm
    z(l+1)_j = r_j + P_f(FFN(N2(r_j)))           P_f: identity or a post-FFN norm

A family describes its block with a ``PreNormParts`` (which modules play which part); this
module does the arithmetic once for all of them, in the run's own dtype (Hugging Face's norms
compute in float32 even on float64 input, so they are re-implemented here from their weights).
Everything before attention is row-wise (``rowwise_project``), which is what lets the engine
walk a path in projection space with tangents instead of through the block.

The attention mask and the rotary tables are the ones the model passed this layer in the real
forward (captured by ``hooks.recording``): so causal masks, sliding windows, bidirectional
local windows and per-layer rotary bases are exactly the model's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ligsite.models.attention import all_positions, attend, probabilities
from ligsite.models.hf import HFAdapter
from ligsite.models.hooks import hidden_states_arg

RowMap = Callable[[Tensor], Tensor]


def row_norm(module: nn.Module | None, unit_offset: bool = False) -> RowMap:
    """A HF norm module as a function computed in the input's dtype.

    LayerNorm (with or without bias), RMSNorm (``weight`` and ``eps`` / ``variance_epsilon``)
    scaled by ``w`` or, with ``unit_offset`` (Gemma), by ``1 + w``; identity for None/Identity.
    """
    if module is None or isinstance(module, nn.Identity):
        return lambda x: x
    if isinstance(module, nn.LayerNorm):
        return lambda x: F.layer_norm(x, module.normalized_shape, module.weight, module.bias, module.eps)
    eps = float(getattr(module, "variance_epsilon", getattr(module, "eps", 1e-6)))
    weight = module.weight

    def rms(x: Tensor) -> Tensor:
        scale = (1.0 + weight) if unit_offset else weight
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * scale

    return rms


def norm_eps(module: nn.Module | None) -> float | None:
    """The eps of a norm module (None for identity): the scale below which it stops normalising."""
    if module is None or isinstance(module, nn.Identity):
        return None
    return float(getattr(module, "variance_epsilon", getattr(module, "eps", 1e-6)))


def _alpha_star(x: Tensor, eps: float) -> Tensor:
    """``sqrt(eps / ms(x))`` per row of x [..., T, D]."""
    return torch.sqrt(eps / x.pow(2).mean(-1).clamp_min(torch.finfo(x.dtype).tiny))


def rotate_half(x: Tensor) -> Tensor:
    """RoPE's pairing of coordinates (the first half with the second), as Hugging Face's."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), -1)


@dataclass
class FixedRouting:
    """A top-1 mixture-of-experts FFN whose expert per token is held at the real input's choice.

    ``out(x̂_j) = p_e(x̂_j) · expert_e(x̂_j)`` with ``e = choice[j]`` fixed along every path and
    ``p = softmax(router(x̂))`` differentiable (METHOD.md: otherwise the boundary function jumps
    where the argmax changes). ``choice`` [T]: the real forward's expert of each position (-1: the
    token overflowed every expert's capacity, so the FFN adds nothing for it, as in the model).
    ``rows`` [T, D]: the block's real input, which tells ``finish`` whose residual row it is given
    (every path's residual row for target j is a non-negative multiple of z_j).
    """

    router: nn.Linear  # D -> E
    experts: Sequence[nn.Module]  # E modules D -> D
    choice: Tensor  # [T] long
    rows: Tensor  # [T, D]

    def __call__(self, x: Tensor, choice: Tensor) -> Tensor:
        """x̂ [..., D] with the expert of each row ``choice`` [...] -> [..., D]."""
        weight = self.router.weight.to(x.dtype)
        bias = None if self.router.bias is None else self.router.bias.to(x.dtype)
        probs = F.linear(x, weight, bias).softmax(-1)  # [..., E]
        flat, picks = x.reshape(-1, x.shape[-1]), choice.reshape(-1)  # [N, D], [N]
        gate = probs.reshape(-1, probs.shape[-1])  # [N, E]
        out = torch.zeros_like(flat)
        for e in torch.unique(picks[picks >= 0]).tolist():  # the experts these rows use (few)
            rows = torch.nonzero(picks == e).squeeze(-1)  # [N_e]
            out = out.index_add(0, rows, self.experts[e](flat[rows]) * gate[rows, e : e + 1])
        return out.reshape(x.shape)

    def choice_of(self, z_row: Tensor) -> Tensor:
        """The expert [...] of residual rows z_row [..., D]: that of the real row they are a
        multiple of (largest cosine; a zero row, which no bias-free path lets reach the FFN
        with anything but zero, gets the first row's)."""
        rows = self.rows.to(z_row.dtype)
        unit = rows / rows.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(rows.dtype).tiny)  # [T, D]
        token = (z_row.detach() @ unit.T).argmax(-1)  # [...]
        return self.choice.to(z_row.device)[token]


@dataclass(frozen=True)
class ItbPieces:
    """Keys and values of the ITB rows ``x_ji(α) = z_j + α (z_i − z_j)`` of a pre-norm block.

    ``σ_ji(α)² = (own + 2α cross + α² step) / width + eps``; with ``s = 1 / σ``:
    ``k_ji(α) = s (k_start_ji + α (k_end_i − k_start_ji)) + k_offset_i`` (RoPE at position i
    included, key/value heads repeated per query head), ``v_ji(α)`` likewise from v_start_j,
    v_end_i and v_offset. own [J, 1], cross, step [J, T]; k_start [J, T, H, d], k_end and
    k_offset [T, H, d]; v_start [J, H, d], v_end [T, H, d], v_offset [H, d].
    """

    own: Tensor
    cross: Tensor
    step: Tensor
    width: int
    eps: float
    k_start: Tensor
    k_end: Tensor
    k_offset: Tensor
    v_start: Tensor
    v_end: Tensor
    v_offset: Tensor


@dataclass
class PreNormParts:
    """Which modules play which part of METHOD.md's pre-norm block (None: not in this family).

    ``qkv(x̂)`` returns q [..., T, H, d] and k, v [..., T, H_kv, d] before q/k norms and RoPE.
    ``out(u)`` is W_O (+b); ``ffn`` the feed-forward module on N2(r).
    """

    norm1: nn.Module | None
    qkv: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]
    out: nn.Module
    norm2: nn.Module | None
    ffn: nn.Module
    n_heads: int
    n_kv_heads: int
    head_dim: int
    scale: float
    q_norm: nn.Module | None = None
    k_norm: nn.Module | None = None
    post_att: nn.Module | None = None
    post_ffn: nn.Module | None = None
    softcap: float | None = None
    unit_offset: bool = False  # Gemma's norms scale by 1 + w
    bias: Tensor | None = None  # [H, T, T] added to the scores (T5/Switch relative positions), from the call
    moe: FixedRouting | None = None  # in place of ``ffn``: top-1 experts held at the real choice


class PreNormBlock:
    """project / attend / finish / layer of one pre-norm block (see ``ligsite.models.base``).

    ``allowed`` [T, T] (query row, key column) is the layer's real mask; ``rotary`` the
    (cos, sin) tables [T, d] of its real call, or None (GPT-2 adds positions before block 0).
    """

    granularities = ("att", "mlp", "layer")
    affine_project = False
    rowwise_project = True

    def __init__(self, index: int, parts: PreNormParts, allowed: Tensor, rotary: tuple[Tensor, Tensor] | None,
                 causal: bool, hidden_size: int):
        self.index, self.parts, self.causal, self.hidden_size = index, parts, causal, hidden_size
        self.n_heads, self.head_dim = parts.n_heads, parts.head_dim
        self.allowed, self.rotary = allowed, rotary
        self._n1, self._n2 = row_norm(parts.norm1, parts.unit_offset), row_norm(parts.norm2, parts.unit_offset)
        self._qn, self._kn = row_norm(parts.q_norm, parts.unit_offset), row_norm(parts.k_norm, parts.unit_offset)
        self._pa, self._pf = row_norm(parts.post_att, parts.unit_offset), row_norm(parts.post_ffn, parts.unit_offset)

    def alpha_star(self, z: Tensor, granularity: str) -> Tensor | None:
        """Per row of z [T, D], the path scale below which the zero path's integrand lives.

        A norm is scale invariant above ``α* = sqrt(eps / ms(x))`` of its input x (METHOD.md,
        "Zero baseline and the norm's scale invariance"). att: N1's on the rows of z. layer:
        below N1's α* everything after it shrinks like α, so each later norm (P_a, N2, P_f)
        switches on later still; the product of their α* on the real activations (a linear
        extrapolation) overshoots the depth, and the geometric mean of N1's α* and that product
        places the nodes best (measured on Llama, GPT-2 and Gemma 2/3 blocks at rms ≈ 3).
        mlp: P_a's on ``W_O u_j`` (the path ``α u_j`` scales it exactly), or None: nothing to place.
        """
        p = self.parts
        first_eps = norm_eps(p.norm1) or norm_eps(p.norm2)
        if first_eps is None or granularity == "mlp" and norm_eps(p.post_att) is None:
            return None
        centred = isinstance(p.norm1, nn.LayerNorm)
        scale = _alpha_star(z - z.mean(-1, keepdim=True) if centred else z, first_eps)  # [T]
        if granularity == "att":
            return scale
        with torch.no_grad():  # the real activations after attention, row by row
            out = p.out(self.attend(*self.project(z), all_positions(z)).flatten(-2))  # [T, D]
            if granularity == "mlp":
                return _alpha_star(out, norm_eps(p.post_att))
            r = z + self._pa(out)
            x2 = self._n2(r)
            ffn = p.ffn(x2) if p.moe is None else None
        nested = scale
        for module, x in ((p.post_att, out), (p.norm2, r), (p.post_ffn, ffn)):
            if norm_eps(module) is not None and x is not None and norm_eps(p.norm1) is not None:
                nested = nested * _alpha_star(x, norm_eps(module)).clamp_max(1.0)
        return torch.sqrt(scale * nested)

    def project(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v [..., T, H, d] of rows z [..., T, D] at positions 0..T-1 (key/value heads repeated)."""
        q, k, v = self.parts.qkv(self._n1(z))  # [..., T, H, d], [..., T, H_kv, d] x2
        return self._place(self._qn(q), self._kn(k), v)

    def _place(self, q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """RoPE at the rows' positions, then key/value heads repeated per query head."""
        return self._rotate(q), self._repeat(self._rotate(k)), self._repeat(v)

    def _rotate(self, x: Tensor) -> Tensor:
        """RoPE of x [..., T, heads, d] at positions 0..T-1 (identity without rotary tables)."""
        if self.rotary is None:
            return x
        cos, sin = (r[: x.shape[-3]].unsqueeze(-2) for r in self.rotary)  # [T, 1, d]
        return x * cos + rotate_half(x) * sin

    def _repeat(self, x: Tensor) -> Tensor:
        """Key/value heads [..., H_kv, d] -> one per query head [..., H, d] (query head h reads h // group)."""
        group = self.parts.n_heads // self.parts.n_kv_heads
        return x.repeat_interleave(group, -2) if group > 1 else x

    def _affine_rows(self, z: Tensor) -> tuple[Tensor, float, list[Tensor], list[Tensor]] | None:
        """The row map as "normalise, then affine": ``R(x) = A(x) / σ(x) + R₀`` (METHOD.md, "Cost").

        Returns the centred rows C z [T, D], N1's eps, ``A = W(γ ⊙ C z)`` and ``R₀ = W β + b``
        (q [T, H, d] / [H, d], k and v with H_kv heads; before RoPE), or None where the map is not
        of that form (q/k norms, no input norm).
        """
        p = self.parts
        if p.q_norm is not None or p.k_norm is not None or norm_eps(p.norm1) is None:
            return None
        centred = isinstance(p.norm1, nn.LayerNorm)
        gamma = p.norm1.weight + 1.0 if p.unit_offset else p.norm1.weight  # [D]
        beta = p.norm1.bias if centred and p.norm1.bias is not None else torch.zeros_like(gamma)
        c = z - z.mean(-1, keepdim=True) if centred else z  # [T, D]
        offset = list(p.qkv(beta))  # R₀ per head
        a = [x - b for x, b in zip(p.qkv(gamma * c + beta), offset, strict=True)]  # [T, H(_kv), d]
        return c, norm_eps(p.norm1), a, offset

    def zero_rows(self, z: Tensor, alpha: Tensor) -> tuple[Tensor, ...] | None:
        """q, k, v [m, T, H, d] on the rows ``α z_i`` at each α of ``alpha`` [m], and their α-tangents.

        Closed form for a "normalise, then affine" row map: ``R(αz) = s(α) A + R₀`` with
        ``A = W(γ ⊙ C z)``, ``s = α / σ(α)``, ``σ(α)² = α² ms(Cz) + eps`` and ``ds/dα = eps / σ³``;
        RoPE is linear. None where the map is not of that form (the caller takes a JVP).
        """
        affine = self._affine_rows(z)
        if affine is None:
            return None
        c, eps, a, offset = affine
        t = z.shape[0]
        sigma = torch.sqrt(alpha[:, None] ** 2 * c.pow(2).mean(-1)[None] + eps)  # [m, T]
        scale, d_scale = (alpha[:, None] / sigma)[..., None, None], (eps / sigma**3)[..., None, None]
        q_a, k_a = self._rotate(a[0]), self._rotate(a[1])
        q_0, k_0 = self._rotate(offset[0].expand(t, -1, -1)), self._rotate(offset[1].expand(t, -1, -1))
        rows = ((q_a, q_0), (k_a, k_0), (a[2], offset[2]))
        points = [scale * x + x0 for x, x0 in rows]  # [m, T, H(_kv), d]
        tangents = [d_scale * x for x, _ in rows]
        return points[0], self._repeat(points[1]), self._repeat(points[2]), \
            tangents[0], self._repeat(tangents[1]), self._repeat(tangents[2])

    def itb_pieces(self, z: Tensor, targets: Tensor) -> ItbPieces | None:
        """The keys and values on the rows ``z_j + α (z_i − z_j)`` of targets j, in closed form.

        For a "normalise, then affine" row map (METHOD.md, "Cost"), ``R(x) = A(x) / σ(x) + R₀``
        with ``A = W(γ ⊙ C x)`` linear in x and ``σ(α)²`` a quadratic in α from the Gram matrix
        of the centred rows z [T, D]; RoPE is linear and passes through. So every row is projected
        once. None when the map is not of that form (q/k norms, no input norm): take JVPs instead.
        """
        affine = self._affine_rows(z)
        if affine is None:
            return None
        c, eps, (_, a_k, a_v), offset = affine
        gram = c @ c.T  # [T, T]
        own = gram[targets, targets][:, None]  # [J, 1]: |C z_j|²
        t = z.shape[0]
        return ItbPieces(
            own=own, cross=gram[targets] - own,  # [J, T]: C z_j · C(z_i − z_j), exactly 0 at i = j
            step=torch.diagonal(gram)[None] - 2 * gram[targets] + own,  # [J, T]: |C(z_i − z_j)|²
            width=z.shape[-1], eps=eps,
            k_start=self._repeat(self._rotate(a_k[targets][:, None].expand(-1, t, -1, -1))),  # [J, T, H, d]
            k_end=self._repeat(self._rotate(a_k)),  # [T, H, d]
            k_offset=self._repeat(self._rotate(offset[1].expand(t, -1, -1))),  # [T, H, d]
            v_start=self._repeat(a_v[targets]), v_end=self._repeat(a_v), v_offset=self._repeat(offset[2]),
        )

    def attend(self, q: Tensor, k: Tensor, v: Tensor, positions: Tensor) -> Tensor:
        """Context u [..., Q, H, d] of queries q [..., Q, H, d] at ``positions`` over k, v [..., T, H, d]."""
        bias = None if self.parts.bias is None else self.parts.bias.to(k.device)  # a constant, like the mask
        return attend(q, k, v, positions, self.parts.scale, causal=False, bias=bias, allowed=self.allowed,
                      softcap=self.parts.softcap)  # the layer's real mask: causal, windows

    def probabilities(self, dots: Tensor, positions: Tensor) -> Tensor:
        """The attention weights [..., H, Q, T] from the dot products ``q·k`` [..., H, Q, T] of
        queries at ``positions`` [..., Q]: the layer's real mask (causal, windows), its
        relative bias (a constant, like the mask) and soft-cap. The tangent path forms the
        dot products itself and calls this directly (``attend`` = these weights times v)."""
        bias = None if self.parts.bias is None else self.parts.bias.to(dots.device)
        return probabilities(dots, positions, self.parts.scale, causal=False, bias=bias, allowed=self.allowed,
                             softcap=self.parts.softcap)

    def finish(self, u: Tensor, z_row: Tensor) -> Tensor:
        """z(l+1) rows [..., D] from head outputs u [..., H*d] and residual rows z_row [..., D]."""
        moe = self.parts.moe
        return self._finish(u, z_row, None if moe is None else moe.choice_of(z_row))

    def _finish(self, u: Tensor, z_row: Tensor, choice: Tensor | None) -> Tensor:
        r = z_row + self._pa(self.parts.out(u))  # [..., D]
        x = self._n2(r)
        return r + self._pf(self.parts.ffn(x) if choice is None else self.parts.moe(x, choice))

    def layer(self, z: Tensor) -> Tensor:
        """The whole block: z [..., T, D] -> z(l+1) [..., T, D]."""
        positions = all_positions(z)  # [..., T]
        u = self.attend(*self.project(z), positions)  # [..., T, H, d]
        moe = self.parts.moe
        return self._finish(u.flatten(-2), z, None if moe is None else moe.choice.to(z.device)[positions])


def allowed_keys(mask: Tensor | None, t: int, causal: bool, device: torch.device) -> Tensor:
    """The [T, T] boolean "query row may see key column" of a captured HF attention mask.

    Eager masks are additive floats (the dtype's minimum where masked) or booleans, [1, 1, T, T];
    without one the block is causal or sees everything.
    """
    if mask is None:
        full = torch.ones(t, t, dtype=torch.bool, device=device)
        return torch.tril(full) if causal else full
    mask = mask.reshape(-1, *mask.shape[-2:])[0, -t:, -t:].to(device)  # [T, T]
    if mask.dtype == torch.bool:
        return mask
    return mask > torch.finfo(mask.dtype).min / 2


def split_heads(x: Tensor, heads: int, head_dim: int) -> Tensor:
    """[..., T, heads*head_dim] -> [..., T, heads, head_dim]."""
    return x.unflatten(-1, (heads, head_dim))


class PreNormAdapter(HFAdapter):
    """Base of the pre-norm families: blocks take their mask and rotary tables from the real call.

    A family names its layers (``layers``), its attention module (for the recorded
    probabilities) and its parts (``parts``); ``forward`` must run before ``block``.
    """

    rotary: ClassVar[bool] = True

    @classmethod
    def attention_layout(cls, config) -> list[dict]:
        """Per block, from the config alone: key/value heads and which keys a query sees.

        ``window``: a decoder's sliding layer lets query j see keys j − window + 1 .. j; a
        bidirectional (ModernBERT) local layer keys with |i − j| ≤ window. None: every key
        the causal (or no) mask allows.
        """
        text = getattr(config, "text_config", None) or config
        dims = cls.dims(config)
        kv_heads = int(getattr(text, "num_key_value_heads", None) or dims.n_heads)
        types = list(getattr(text, "layer_types", None) or [])
        window = getattr(text, "sliding_window", None)
        layout = []
        for index in range(dims.n_layers):
            sliding = types[index] == "sliding_attention" if types else window is not None
            layout.append({"block": index, "kv_heads": kv_heads, "query_heads_per_kv_head": dims.n_heads // kv_heads,
                           "attention": "sliding" if sliding and window else "global",
                           "window": int(window) if sliding and window else None})
        return layout

    def parts(self, module: nn.Module) -> PreNormParts:
        raise NotImplementedError

    def call_mask(self, args: tuple, kwargs: dict) -> Tensor | None:
        """The attention mask this layer was called with (None: causal or full, by ``causal``)."""
        return kwargs.get("attention_mask")

    def make_block(self, module: nn.Module, index: int) -> PreNormBlock:
        args, kwargs = self.recorded_call(index, "its mask")
        weight = next(module.parameters())
        t = hidden_states_arg(args, kwargs).shape[-2]
        allowed = allowed_keys(self.call_mask(args, kwargs), t, self.causal, weight.device)
        rotary = None
        if self.rotary:
            cos, sin = kwargs["position_embeddings"]  # [1, T, d] each
            rotary = (cos[0].to(weight.device, weight.dtype), sin[0].to(weight.device, weight.dtype))
        return PreNormBlock(index, self.parts(module), allowed, rotary, self.causal, self.hidden_size)
