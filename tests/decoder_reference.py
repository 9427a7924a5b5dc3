"""Independent float64 reference of LIG's att / mlp / layer routes for one pre-norm block.

Everything goes through the family's OWN Hugging Face layer module (``LlamaDecoderLayer``,
``Gemma3DecoderLayer``, ``GPT2Block``, ``ModernBertEncoderLayer``, ...), called exactly as the
model's forward calls it: the arguments (attention mask, ``position_embeddings``,
``position_ids``, ...) are captured with a forward pre-hook on the layer during a real model
forward of the same length ``T`` and replayed, broadcast over a batch of path points. Nothing
from ligsite is imported. Per target ``j``, all quadrature nodes go through the layer in one
batch (the batch axis), gradients by torch autograd.

float64 for real: inside ``float64_patches(model)`` (entered by every function here)
- ``torch.nn.functional.softmax(..., dtype=torch.float32)`` on float64 input computes in float64
  (eager attention asks for float32);
- every ``*RMSNorm`` module computes in float64 (HF's cast to float32 even for float64 input;
  the Gemma formula ``x̂ · (1 + w)`` vs Llama's ``w · x̂`` is read from the module's source and
  checked against the original on float32 input);
- rotary modules return cos/sin computed in float64, ``cos(pos · inv_freq) · attention_scaling``
  with the module's own ``inv_freq`` buffer (HF computes the angles in float32; pass
  ``rope="hf"`` to replay HF's own float32-angle cos/sin instead);
- ModernBERT's ``apply_rotary_pos_emb`` (which casts q, k to float32) keeps float64.
All patches are undone on exit.

Definitions (METHOD.md, "Pre-norm blocks", "Scalarization and IG"), for block ``l``, real block
input ``z`` [T, D] (float64), target ``j``, nodes/weights of a rule on [0, 1] (numpy):
    L = ||f(x) - f(x')||,  x(α) = x' + α (x - x'),  IG = (x - x') ⊙ Σ_k w_k ∇L(x(α_k)),
    score = Σ over the hidden coordinates of a row (signed); the gradient term of a node where
    f(x(α)) == f(x') exactly is 0.
- ``layer_route(model, l, z, j, baseline, nodes, weights) -> (scores [T], L float)``
  f = LAYER_j(z) = row j of the layer's output; baseline "zero" (x' = 0) or
  "self_input_token" (every row of x' = z_j).
- ``att_route(...) -> (scores [T, H], L [H])``
  f = ATT_j^h(z) = query head h's context at row j, i.e. the input of the output projection
  (o_proj / c_proj / Wo) at row j, columns h·d:(h+1)·d (captured by a pre-hook, the rest of the
  layer is not run); one L and one IG per head; baselines as for layer.
- ``mlp_route(...) -> (scores [H], L float)``
  f = MLP_j(u) = z(l+1)_j as a function of u_j (the output-projection input at row j), the layer
  run on the real z with row j of the o_proj input replaced by the path point (so W_O, the
  post-attention norm if any, the residual z_j — held at its real value —, the pre-FFN norm, the
  FFN and the post-FFN norm are all the HF modules'); score per head = IG summed over that head's
  d coordinates. Baselines: "zero" (u' = 0) or "att_itb_a0" (u' = ATT at every row = z_j, row j).
- ``layer_map / att_map / mlp_map``: the same for many targets, in METHOD's storage layouts:
  layer [T_src, T_tgt] (+ L [T_tgt]); att [H, T_src, T_tgt] (+ L [H, T_tgt]);
  mlp [T_tgt, H] (+ L [T_tgt]).

Every route takes ``rope="float64"`` (default) or ``rope="hf"``; the two differ by ~2e-8
(relative) on the tiny models. ``model`` may be a folder, the engine's own (float32, sdpa, ...)
model — deep-copied once to float64 eager, the original untouched — or a ``reference_model``.

Where the zero path's integrand lives (tiny models, eps 1e-6, rms(z) ≈ 3.8, so the first norm's
α* = sqrt(eps / ms(z_i)) ≈ 2e-4..6e-4): att and mlp at α ≈ 1e-6..1e-3; the layer route also
has nested kinks — a norm of something that itself scales like α/α* switches on at α ≈ α*·1e-3:
Llama-style blocks put ~12% of L at α ≈ 1e-7..1e-6 (N2 of αz_j + attn), Gemma 2/3 (post-
attention norm, then the pre-FFN norm of its output) ~30% at α ≈ 1e-11. Nodes placed only from
the rows' α* miss those; ``log_panels_rule(1e-14, 8)`` (112 nodes) meets 2e-3, (1e-14, 16)
converges to ~1e-5 of L.

Speed: tiny float64 matmuls; ``torch.set_num_threads(1)`` is ~10x faster than two threads on a
shared machine (the self-tests set it for their module and restore it).

Helpers: ``reference_model(model_or_folder)`` (a float64 eager copy; folders are loaded with
``AutoModel``), ``text_stack``, ``decoder_layers``, ``block_io(model, input_ids)`` (z(l) for
every block and each block's own output, from one float64 forward under the patches),
``layer_call(model, l, T)`` (the captured arguments), ``layer_forward(model, l, X)``,
``attention_mask(model, l, T)`` (the additive mask the layer gets, [T_q, T_k]),
``attention_probs(model, l, z)`` ([H, T_q, T_k]), ``real_u(model, l, z)`` ([T, H·d]),
``att_itb_a0(model, l, z, j)`` ([H·d]), ``mlp_forward(model, l, z, j, U)`` ([N, D]),
``log_panels_rule(alpha_min, per_decade)`` (the converged zero-path rule),
``all_maps(model, l, z, nodes, weights)`` (every route × baseline), ``rel_frobenius(a, b)``,
``gauss_legendre(n)``, ``graded_gauss_legendre(n, p)``, ``log_gauss_legendre(n, alpha_min)``.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

F64 = torch.float64

# ---------------------------------------------------------------------------------------------
# quadrature rules on [0, 1]
# ---------------------------------------------------------------------------------------------


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n Gauss–Legendre nodes and weights on [0, 1] (weights sum to 1)."""
    t, w = np.polynomial.legendre.leggauss(n)
    return (t + 1) / 2, w / 2


def graded_gauss_legendre(n: int, power: float) -> tuple[np.ndarray, np.ndarray]:
    """α = t^p on Gauss–Legendre t: nodes graded toward 0, weights w·p·t^(p-1)."""
    t, w = gauss_legendre(n)
    return t ** power, w * power * t ** (power - 1)


def log_gauss_legendre(n: int, alpha_min: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre in log α over [alpha_min, 1] (α = alpha_min^(1-s)); [0, alpha_min] dropped."""
    s, w = gauss_legendre(n)
    la = math.log(alpha_min)
    alpha = np.exp(la * (1 - s))
    return alpha, w * (-la) * alpha


def log_panels_rule(alpha_min: float = 1e-14, per_decade: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Composite rule: ``per_decade`` Gauss–Legendre nodes (in log α) on every decade
    [10^-(k+1), 10^-k] from 1 down to ``alpha_min``; the piece [0, alpha_min] is dropped.
    Robust where the integrand has kinks at unknown small α (pre-norm zero paths; Gemma 2/3's
    post-attention norm puts a second one far below the first)."""
    decades = int(round(-math.log10(alpha_min)))
    s, w = gauss_legendre(per_decade)
    nodes, weights = [], []
    for k in range(decades):
        lo, hi = -(k + 1) * math.log(10), -k * math.log(10)
        la = lo + (hi - lo) * s
        alpha = np.exp(la)
        nodes.append(alpha)
        weights.append(w * (hi - lo) * alpha)
    return np.concatenate(nodes[::-1]), np.concatenate(weights[::-1])


# ---------------------------------------------------------------------------------------------
# model access
# ---------------------------------------------------------------------------------------------


_COPIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def reference_model(model_or_folder):
    """A float64, eager, eval copy of the model (folders: ``AutoModel.from_pretrained``).

    A model that is already a reference model is returned as is; any other model is deep-copied
    once (the copy is remembered while the original lives), so passing the engine's own model
    to every call is cheap and never changes it."""
    if not isinstance(model_or_folder, (str, Path)) and model_or_folder in _COPIES:
        return _COPIES[model_or_folder]
    original = model_or_folder
    if isinstance(model_or_folder, (str, Path)):
        from transformers import AutoModel

        model = AutoModel.from_pretrained(model_or_folder, attn_implementation="eager", dtype=F64)
    else:
        model = model_or_folder
        if getattr(model, "_lig_reference", False):
            return model
        model = copy.deepcopy(model)
    model = model.to(F64).eval()
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            try:
                config._attn_implementation = "eager"
            except Exception:  # pragma: no cover - read-only on some configs
                pass
    model._lig_reference = True
    model._lig_calls = {}
    if not isinstance(original, (str, Path)) and original is not model:
        _COPIES[original] = model
    return model


def text_stack(model):
    """The module that holds the blocks (Gemma 3 multimodal: ``model.language_model``)."""
    if hasattr(model, "language_model"):
        return model.language_model
    if hasattr(model, "model") and (hasattr(model.model, "layers") or hasattr(model.model, "language_model")):
        return text_stack(model.model)
    return model


def decoder_layers(model):
    stack = text_stack(model)
    for name in ("layers", "h"):
        if hasattr(stack, name):
            return getattr(stack, name)
    raise ValueError(f"no block list on {type(stack).__name__}")


def text_config(model):
    config = model.config
    return getattr(config, "text_config", None) or config


def heads_and_width(model) -> tuple[int, int]:
    """(H query heads, head width d): config.head_dim where the config has one."""
    config = text_config(model)
    heads = getattr(config, "num_attention_heads", None) or config.n_head
    hidden = getattr(config, "hidden_size", None) or config.n_embd
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    if type(model).__name__.startswith("ModernBert"):
        head_dim = hidden // heads  # ModernBERT's attention ignores head_dim
    return heads, head_dim


def out_projection(layer):
    """The output projection whose input is u = concat_h o^h (o_proj / c_proj / Wo)."""
    for path in ("self_attn.o_proj", "attn.c_proj", "attn.Wo", "attention.o_proj"):
        module = layer
        try:
            for part in path.split("."):
                module = getattr(module, part)
        except AttributeError:
            continue
        return module
    raise ValueError(f"no output projection found on {type(layer).__name__}")


# ---------------------------------------------------------------------------------------------
# float64 patches
# ---------------------------------------------------------------------------------------------


def _rms_forward(gemma_style: bool, eps: float):
    def forward(self, x):
        ms = x.pow(2).mean(-1, keepdim=True)
        xhat = x * torch.rsqrt(ms + eps)
        weight = self.weight.to(x.dtype)
        return xhat * (1.0 + weight) if gemma_style else weight * xhat

    return forward


def _rope_forward(self, x, position_ids, layer_type=None, **_):
    if layer_type is None:
        inv_freq, scale = self.inv_freq, self.attention_scaling
    else:
        inv_freq = getattr(self, f"{layer_type}_inv_freq")
        scale = getattr(self, f"{layer_type}_attention_scaling")
    freqs = position_ids[..., None].to(F64) * inv_freq.to(device=x.device, dtype=F64)
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * scale).to(x.dtype), (emb.sin() * scale).to(x.dtype)


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _apply_rope_keep_dtype(q, k, cos, sin, unsqueeze_dim=1):
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin


def _patch_plan(model, rope: str):
    """(module, float64 forward) pairs and (python module, name, replacement) triples; built once."""
    key = f"_lig_patch_plan_{rope}"
    if key in model.__dict__:
        return model.__dict__[key]
    forwards, globals_ = [], []
    for module in model.modules():
        cls = type(module)
        if cls.__name__.endswith("RMSNorm") and hasattr(module, "weight"):
            source = inspect.getsource(cls.forward)
            gemma_style = "1.0 + self.weight" in source or "1 + self.weight" in source
            eps = getattr(module, "variance_epsilon", None)
            if eps is None:
                eps = module.eps
            forward = _rms_forward(gemma_style, float(eps))
            probe = torch.randn(3, module.weight.shape[-1], generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                want = cls.forward(module, probe.to(module.weight.dtype)).to(F64)
                got = forward(module, probe.to(F64))
            if not torch.allclose(want, got, rtol=1e-4, atol=1e-5):
                raise RuntimeError(f"float64 replacement of {cls.__name__} does not match it")
            forwards.append((module, forward.__get__(module)))
        elif cls.__name__.endswith("RotaryEmbedding") and rope == "float64":
            forwards.append((module, _rope_forward.__get__(module)))
    for mod in {inspect.getmodule(type(m)) for m in model.modules()}:
        if mod is not None and mod.__name__.endswith("modeling_modernbert") and hasattr(mod, "apply_rotary_pos_emb"):
            globals_.append((mod, "apply_rotary_pos_emb", _apply_rope_keep_dtype))
    model.__dict__[key] = (forwards, globals_)
    return forwards, globals_


@contextlib.contextmanager
def float64_patches(model, rope: str = "float64"):
    """Norms, softmax and (``rope="float64"``) rotary cos/sin computed in float64; undone on exit."""
    import torch.nn.functional as F

    forwards, globals_ = _patch_plan(model, rope)
    original_softmax = F.softmax

    def softmax(input, dim=None, _stacklevel=3, dtype=None):
        if dtype is not None and input.dtype == F64 and dtype in (torch.float32, torch.float16, torch.bfloat16):
            dtype = F64
        return original_softmax(input, dim=dim, dtype=dtype)

    originals = [(mod, name, getattr(mod, name)) for mod, name, _ in globals_]
    F.softmax = softmax
    try:
        for module, forward in forwards:
            module.forward = forward
        for mod, name, replacement in globals_:
            setattr(mod, name, replacement)
        yield model
    finally:
        F.softmax = original_softmax
        for module, _ in forwards:
            module.__dict__.pop("forward", None)
        for mod, name, original in originals:
            setattr(mod, name, original)


# ---------------------------------------------------------------------------------------------
# capturing the layer call
# ---------------------------------------------------------------------------------------------


@dataclass
class LayerCall:
    """How the model's forward called block ``l`` (hidden states replaced by the caller's)."""

    layer: torch.nn.Module
    args: tuple        # positional arguments after hidden_states
    kwargs: dict

    def __call__(self, hidden):
        out = self.layer(hidden, *self.args, **self.kwargs)
        return out[0] if isinstance(out, (tuple, list)) else out


def _dummy_ids(model, T: int) -> torch.Tensor:
    vocab = text_config(model).vocab_size
    return (torch.arange(T) * 7 + 3).remainder(vocab - 1).unsqueeze(0) + 1


def _run(model, input_ids):
    with torch.no_grad():
        return model(input_ids=input_ids, output_hidden_states=True, use_cache=False)


def _capture_all(model, input_ids, rope: str):
    layers = decoder_layers(model)
    calls, inputs, outputs, handles = {}, {}, {}, []
    for index, layer in enumerate(layers):
        def pre(module, args, kwargs, index=index):
            hidden = args[0] if args else kwargs["hidden_states"]
            rest_kwargs = {k: v for k, v in kwargs.items() if k != "hidden_states"}
            calls[index] = LayerCall(module, tuple(args[1:]), rest_kwargs)
            inputs[index] = hidden[0].detach().clone()

        def post(module, args, kwargs, out, index=index):
            out = out[0] if isinstance(out, (tuple, list)) else out
            outputs[index] = out[0].detach().clone()

        handles.append(layer.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(layer.register_forward_hook(post, with_kwargs=True))
    try:
        with float64_patches(model, rope):
            result = _run(model, input_ids)
    finally:
        for handle in handles:
            handle.remove()
    return calls, inputs, outputs, result


def layer_call(model, l: int, T: int, rope: str = "float64") -> LayerCall:
    """The captured call of block ``l`` for sequences of length ``T`` (no padding)."""
    key = (T, rope)
    cache = model.__dict__.setdefault("_lig_calls", {})
    if key not in cache:
        cache[key] = _capture_all(model, _dummy_ids(model, T), rope)[0]
    return cache[key][l]


def block_io(model, input_ids, rope: str = "float64"):
    """(z, out, hf): z[l] = input of block l [T, D], out[l] = block l's own output [T, D], both
    from one float64 forward under the patches; hf = that forward's ``hidden_states`` (whose last
    entry is after the final norm where the model has one)."""
    model = reference_model(model)
    input_ids = torch.as_tensor(input_ids).reshape(1, -1)
    _, inputs, outputs, result = _capture_all(model, input_ids, rope)
    n = len(inputs)
    return ([inputs[l] for l in range(n)], [outputs[l] for l in range(n)],
            [h[0] for h in result.hidden_states])


def layer_forward(model, l: int, X: torch.Tensor, rope: str = "float64") -> torch.Tensor:
    """Block ``l`` on a batch ``X`` [N, T, D] (float64, patched), called as the model calls it."""
    model = reference_model(model)
    call = layer_call(model, l, X.shape[-2], rope)
    with float64_patches(model, rope):
        return call(X)


def attention_mask(model, l: int, T: int) -> torch.Tensor | None:
    """The additive attention mask block ``l`` receives, as [T_query, T_key] (None: no mask)."""
    model = reference_model(model)
    call = layer_call(model, l, T)
    mask = call.kwargs.get("attention_mask")
    if mask is None:
        for arg in call.args:
            if isinstance(arg, torch.Tensor) and arg.dim() == 4:
                mask = arg
    if mask is None:
        return None
    mask = mask[0, 0]
    if mask.dtype == torch.bool:
        mask = torch.where(mask, 0.0, torch.finfo(F64).min).to(F64)
    return mask


# ---------------------------------------------------------------------------------------------
# IG core
# ---------------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _u_of(model, l: int, X: torch.Tensor, rope: str) -> torch.Tensor:
    """The output-projection input u [N, T, H·d] for block inputs X [N, T, D]."""
    call = layer_call(model, l, X.shape[-2], rope)
    box = {}

    def hook(module, args):
        box["u"] = args[0]
        raise _Stop

    handle = out_projection(call.layer).register_forward_pre_hook(hook)
    try:
        with float64_patches(model, rope):
            call(X)
    except _Stop:
        pass
    finally:
        handle.remove()
    return box["u"]


def _mlp_of(model, l: int, z: torch.Tensor, j: int, U: torch.Tensor, rope: str) -> torch.Tensor:
    """z(l+1)_j [N, D] with the o_proj input at row j replaced by U [N, H·d], z held fixed."""
    T = z.shape[0]
    call = layer_call(model, l, T, rope)

    def hook(module, args):
        u = args[0]
        u = torch.cat([u[:, :j], U[:, None, :].to(u.dtype), u[:, j + 1:]], dim=1)
        return (u,) + tuple(args[1:])

    handle = out_projection(call.layer).register_forward_pre_hook(hook)
    try:
        with float64_patches(model, rope):
            out = call(z[None].expand(U.shape[0], -1, -1))
    finally:
        handle.remove()
    return out[:, j]


def _safe_norm(diff: torch.Tensor) -> torch.Tensor:
    """||diff|| over the last axis with gradient 0 where diff == 0 exactly."""
    nonzero = (diff != 0).any(-1)
    sq = diff.pow(2).sum(-1)
    return torch.where(nonzero, torch.sqrt(torch.where(nonzero, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def _ig(f, x: torch.Tensor, xb: torch.Tensor, nodes, weights):
    """IG of L_k = ||f(x(α))_k - f(x')_k|| for each of K outputs.

    f maps a batch [N, *x.shape] to [N, K, m]. Returns (IG [K, *x.shape], L [K]).
    """
    alphas = torch.as_tensor(np.asarray(nodes, dtype=np.float64), dtype=F64)
    w = torch.as_tensor(np.asarray(weights, dtype=np.float64), dtype=F64)
    with torch.no_grad():
        f_base = f(xb[None])[0]
        f_real = f(x[None])[0]
    L = (f_real - f_base).norm(dim=-1)
    delta = x - xb
    shape = (-1,) + (1,) * x.dim()
    X = (xb[None] + alphas.reshape(shape) * delta[None]).detach().requires_grad_(True)
    out = f(X)                                            # [N, K, m]
    Lk = _safe_norm(out - f_base[None])                   # [N, K]
    K = Lk.shape[1]
    igs = []
    for k in range(K):
        (grad,) = torch.autograd.grad((w * Lk[:, k]).sum(), X, retain_graph=k < K - 1)
        igs.append(delta * grad.sum(0))
    return torch.stack(igs), L


def _z(z) -> torch.Tensor:
    return torch.as_tensor(z).to(F64).detach()


def _baseline_rows(z: torch.Tensor, j: int, baseline: str) -> torch.Tensor:
    if baseline == "zero":
        return torch.zeros_like(z)
    if baseline == "self_input_token":
        return z[j].expand_as(z).clone()
    raise ValueError(f"baseline {baseline!r} is not valid here; use 'zero' or 'self_input_token'")


# ---------------------------------------------------------------------------------------------
# the three routes
# ---------------------------------------------------------------------------------------------


def layer_route(model, l: int, z, j: int, baseline: str, nodes, weights, rope: str = "float64"):
    """LAYER_j: (scores [T_src] numpy, L float)."""
    model = reference_model(model)
    z = _z(z)
    xb = _baseline_rows(z, j, baseline)
    call = layer_call(model, l, z.shape[0], rope)

    def f(X):
        with float64_patches(model, rope):
            return call(X)[:, j][:, None, :]

    ig, L = _ig(f, z, xb, nodes, weights)
    return ig[0].sum(-1).detach().numpy(), float(L[0])


def att_route(model, l: int, z, j: int, baseline: str, nodes, weights, rope: str = "float64"):
    """ATT_j^h for every query head h: (scores [T_src, H] numpy, L [H] numpy)."""
    model = reference_model(model)
    z = _z(z)
    H, d = heads_and_width(model)
    xb = _baseline_rows(z, j, baseline)

    def f(X):
        u = _u_of(model, l, X, rope)[:, j]
        return u.reshape(u.shape[0], H, d)

    ig, L = _ig(f, z, xb, nodes, weights)         # ig [H, T, D]
    return ig.sum(-1).T.detach().numpy(), L.detach().numpy()


def attention_probs(model, l: int, z, rope: str = "float64") -> torch.Tensor:
    """Eager attention probabilities of block ``l`` on block input z: [H, T_query, T_key] float64
    (the second output of the layer's attention module; for ``itb_map_ratio``'s a = p[h, j, j])."""
    model = reference_model(model)
    z = _z(z)
    call = layer_call(model, l, z.shape[0], rope)
    attn = getattr(call.layer, "self_attn", None) or getattr(call.layer, "attn")
    box = {}

    def hook(module, args, out):
        box["p"] = out[1]

    handle = attn.register_forward_hook(hook)
    try:
        with torch.no_grad(), float64_patches(model, rope):
            call(z[None])
    finally:
        handle.remove()
    return box["p"][0]


def att_itb_a0(model, l: int, z, j: int, rope: str = "float64") -> torch.Tensor:
    """u'_j: ATT at every row equal to z_j (row j of the o_proj input), [H·d]."""
    model = reference_model(model)
    z = _z(z)
    with torch.no_grad():
        return _u_of(model, l, z[j].expand_as(z)[None].clone(), rope)[0, j]


def real_u(model, l: int, z, rope: str = "float64") -> torch.Tensor:
    """The real o_proj input u [T, H·d] on block input z."""
    model = reference_model(model)
    with torch.no_grad():
        return _u_of(model, l, _z(z)[None], rope)[0]


def mlp_route(model, l: int, z, j: int, baseline: str, nodes, weights, rope: str = "float64"):
    """MLP_j(u_j), z_j fixed: (per-head scores [H] numpy, L float)."""
    model = reference_model(model)
    z = _z(z)
    H, d = heads_and_width(model)
    u = real_u(model, l, z, rope)[j]
    if baseline == "zero":
        ub = torch.zeros_like(u)
    elif baseline == "att_itb_a0":
        ub = att_itb_a0(model, l, z, j, rope)
    else:
        raise ValueError(f"baseline {baseline!r} is not valid for mlp; use 'zero' or 'att_itb_a0'")

    def f(U):
        return _mlp_of(model, l, z, j, U, rope)[:, None, :]

    ig, L = _ig(f, u, ub, nodes, weights)          # ig [1, H·d]
    return ig[0].reshape(H, d).sum(-1).detach().numpy(), float(L[0])


def mlp_forward(model, l: int, z, j: int, U, rope: str = "float64") -> torch.Tensor:
    """MLP_j at given o_proj inputs U [N, H·d] (row j), z fixed: [N, D] (no grad)."""
    model = reference_model(model)
    U = torch.as_tensor(U).to(F64)
    with torch.no_grad():
        return _mlp_of(model, l, _z(z), j, U.reshape(-1, U.shape[-1]), rope)


# ---------------------------------------------------------------------------------------------
# maps over targets (METHOD's storage layouts)
# ---------------------------------------------------------------------------------------------


def _targets(T: int, targets):
    return list(range(T)) if targets is None else list(targets)


def layer_map(model, l: int, z, baseline: str, nodes, weights, targets=None, rope: str = "float64"):
    """[T_src, T_tgt] scores and L [T_tgt] (columns of targets not asked for stay 0)."""
    model = reference_model(model)
    T = _z(z).shape[0]
    scores, Ls = np.zeros((T, T)), np.zeros(T)
    for j in _targets(T, targets):
        scores[:, j], Ls[j] = layer_route(model, l, z, j, baseline, nodes, weights, rope)
    return scores, Ls


def att_map(model, l: int, z, baseline: str, nodes, weights, targets=None, rope: str = "float64"):
    """[H, T_src, T_tgt] scores and L [H, T_tgt]."""
    model = reference_model(model)
    T = _z(z).shape[0]
    H, _ = heads_and_width(model)
    scores, Ls = np.zeros((H, T, T)), np.zeros((H, T))
    for j in _targets(T, targets):
        s, L = att_route(model, l, z, j, baseline, nodes, weights, rope)
        scores[:, :, j], Ls[:, j] = s.T, L
    return scores, Ls


def mlp_map(model, l: int, z, baseline: str, nodes, weights, targets=None, rope: str = "float64"):
    """[T_tgt, H] scores and L [T_tgt]."""
    model = reference_model(model)
    T = _z(z).shape[0]
    H, _ = heads_and_width(model)
    scores, Ls = np.zeros((T, H)), np.zeros(T)
    for j in _targets(T, targets):
        scores[j], Ls[j] = mlp_route(model, l, z, j, baseline, nodes, weights, rope)
    return scores, Ls


def all_maps(model, l: int, z, nodes, weights, targets=None, rope: str = "float64") -> dict:
    """Every (route, baseline) of block ``l``: {("att", "zero"): (scores, L), ("att",
    "self_input_token"), ("layer", "zero"), ("layer", "self_input_token"), ("mlp", "zero"),
    ("mlp", "att_itb_a0")}, layouts as in ``att_map`` / ``layer_map`` / ``mlp_map``."""
    model = reference_model(model)
    out = {}
    for baseline in ("zero", "self_input_token"):
        out[("att", baseline)] = att_map(model, l, z, baseline, nodes, weights, targets, rope)
        out[("layer", baseline)] = layer_map(model, l, z, baseline, nodes, weights, targets, rope)
    for baseline in ("zero", "att_itb_a0"):
        out[("mlp", baseline)] = mlp_map(model, l, z, baseline, nodes, weights, targets, rope)
    return out


def rel_frobenius(a, b) -> float:
    """||a - b||_F / ||b||_F (0 when both are 0): the per-map tolerance measure of issue 9."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    nb = np.linalg.norm(b)
    diff = np.linalg.norm(a - b)
    return 0.0 if diff == 0 else float(diff / nb) if nb > 0 else float("inf")
