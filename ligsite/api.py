"""``explain``: validate a request, run the raw IG routes it needs, return an ``Explanation``.

Ratio baselines are post-processing, so a request maps to a set of *raw* runs (at most two per
granularity) and each runs once. One no-grad forward caches every block's real input; blocks
are then independent, so the loop is over layers and raw runs only.

``explain_many`` does the same for several texts, and where the family's blocks allow it
(``ligsite.lig.batch.shares_calls``: the post-LN encoders) sentences of similar length share
every IG call, as one right-padded batch with masked keys: the same numbers as one at a time
(to rounding), in fewer and larger calls. How many share one call: ``batch_size`` sentences at
most, and no more than the IG core's byte budget holds in one chunk (``ig.memory_budget``); the
routes of a group run in ``ligsite.runs``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

from ligsite import __version__
from ligsite.config import MAX_STEPS, steps_limit
from ligsite.errors import InputError, NumericalError
from ligsite.explanation import BASELINES, GRANULARITIES, Explanation, Run, expected_ratio
from ligsite.lig.quadrature import QUADRATURES
from ligsite.models.base import ForwardCache
from ligsite.models.describe import describe_boundaries
from ligsite.models.hf import HFAdapter
from ligsite.models.loading import DEFAULT_MODEL, arithmetic_dtype, load
from ligsite.runs import compute, groups_for

__all__ = ["explain", "explain_many", "describe_boundaries", "CompletenessWarning"]
TOLERANCE = 0.02


class CompletenessWarning(UserWarning):
    """Some (layer, target[, head]) ratio is farther than the tolerance from 1."""


def explain(
    text: str,
    model: str | HFAdapter = DEFAULT_MODEL,
    steps: int | str = 32,
    granularity: str | Sequence[str] = "all",
    baselines: Mapping[str, Sequence[str]] | None = None,
    layers: Iterable[int] | None = None,
    targets: Iterable[int] | None = None,
    quadrature: str = "gauss-legendre",
    device: str = "auto",
    dtype: str = "float32",
    tolerance: float = TOLERANCE,
    weights_dtype: str = "auto",
) -> Explanation:
    """LIG attributions of ``text`` (see METHOD.md); ``model`` may be an id, a folder or an adapter.

    ``granularity``: a subset of ("att", "mlp", "layer"), or "all" (the default: every one the
    family supports, so the same call serves full and block-only models).
    ``baselines``: per granularity, default all valid ones. ``steps``: nodes, or "auto".
    ``device`` applies when the model is loaded here; a given adapter runs where it lives.
    """
    (exp,) = _explain_many([text], model, steps, granularity, baselines, layers, targets, quadrature,
                           device, dtype, tolerance, weights_dtype, batch_size=1)
    if exp.warnings:
        warnings.warn("; ".join(exp.warnings), CompletenessWarning, stacklevel=2)
    return exp


def explain_many(
    texts: Sequence[str],
    model: str | HFAdapter = DEFAULT_MODEL,
    steps: int | str = 32,
    granularity: str | Sequence[str] = "all",
    baselines: Mapping[str, Sequence[str]] | None = None,
    layers: Iterable[int] | None = None,
    targets: Iterable[int] | None = None,
    quadrature: str = "gauss-legendre",
    device: str = "auto",
    dtype: str = "float32",
    tolerance: float = TOLERANCE,
    weights_dtype: str = "auto",
    batch_size: int | str = "auto",
) -> list[Explanation]:
    """``explain`` of every text (same options; ``targets`` apply to each), in the order given.

    ``batch_size``: at most this many sentences share one IG call, as many as the device's byte
    budget holds; "auto": up to 64 on CUDA (``runs.AUTO_SHARED_MOST``; a build's engine calls
    get 16 samples at most, ``executors.AUTO_PER_CALL``), one at a time on a CPU (where sharing
    does not pay).
    Families whose blocks cannot share calls run one at a time.
    A bad text raises (InputError / NumericalError) for the whole call.
    """
    out = _explain_many(texts, model, steps, granularity, baselines, layers, targets, quadrature,
                        device, dtype, tolerance, weights_dtype, batch_size)
    for exp in out:
        if exp.warnings:
            warnings.warn("; ".join(exp.warnings), CompletenessWarning, stacklevel=2)
    return out


def _explain_many(texts: Sequence[str], model: str | HFAdapter, steps: int | str, granularity: str | Sequence[str],
                  baselines: Mapping[str, Sequence[str]] | None, layers: Iterable[int] | None,
                  targets: Iterable[int] | None, quadrature: str, device: str, dtype: str, tolerance: float,
                  weights_dtype: str, batch_size: int | str) -> list[Explanation]:
    """Validate everything, then explain the texts in groups that share IG calls."""
    texts = list(texts)
    if not texts:
        raise InputError("no texts given: explain_many needs at least one")
    for text in texts:
        _check_text(text)
    _check_settings(steps, quadrature, tolerance)
    _check_batch_size(batch_size)
    torch_dtype = arithmetic_dtype(dtype)
    adapter = model if isinstance(model, HFAdapter) else load(str(model), device, torch_dtype, weights_dtype)
    wanted = _granularities(granularity, adapter)
    requested = _baselines(baselines, wanted)
    layer_list = _indices(layers, adapter.n_layers, "layer", f"{adapter.name} has layers")
    tokenized = [adapter.tokenize(text) for text in texts]
    targets = _once(targets)  # every text's: a generator is read once
    target_lists = [_indices(targets, len(tokens.tokens), "target", "the text has tokens") for tokens in tokenized]
    lengths = [len(tokens.tokens) for tokens in tokenized]
    out: list[Explanation] = [None] * len(texts)  # type: ignore[list-item]
    for group in groups_for(adapter, layer_list, lengths, target_lists, torch_dtype, steps, batch_size):
        caches = [adapter.forward(tokenized[s].input_ids) for s in group]  # blocks may read the last one
        for cache in caches:
            _check_forward(cache, layer_list, "att" in wanted, adapter.name, torch_dtype)
        runs = compute(adapter, caches, layer_list, [target_lists[s] for s in group], requested,
                        torch_dtype, quadrature, steps, tolerance, [texts[s] for s in group])
        for s, cache, run in zip(group, caches, runs, strict=True):
            out[s] = _explanation(texts[s], tokenized[s], adapter, cache, layer_list, target_lists[s],
                                  run, steps, quadrature, torch_dtype, tolerance, requested, "att" in wanted)
    return out


def _explanation(text: str, tokens, adapter: HFAdapter, cache: ForwardCache, layer_list: list[int],
                 target_list: list[int], runs: dict[str, Run], steps: int | str, quadrature: str,
                 torch_dtype: torch.dtype, tolerance: float, requested: dict[str, list[str]],
                 attention: bool) -> Explanation:
    """One text's Explanation from its runs, with its completeness warnings."""
    self_probs = _self_probs(cache, layer_list) if attention else None
    exp = Explanation(
        text=text, tokens=tokens.tokens, word_ids=tokens.word_ids, model=adapter.name,
        model_identity=adapter.identity, model_type=adapter.model_type, n_heads=adapter.n_heads,
        layers=layer_list, targets=target_list, steps=steps if steps == "auto" else int(steps),
        quadrature=quadrature, dtype=str(torch_dtype).removeprefix("torch."),
        weights_dtype=str(next(adapter.model.parameters()).dtype).removeprefix("torch."),
        tolerance=tolerance, baselines=requested, runs=runs, self_probs=self_probs,
        ligsite_version=__version__, token_spans=tokens.spans, unk_token=tokens.unk_token,
        routing=adapter.routing_record(cache, layer_list),
    )
    exp.warnings = completeness_warnings(exp)
    return exp


def _check_forward(cache: ForwardCache, layer_list: list[int], attention: bool, name: str,
                   dtype: torch.dtype) -> None:
    """Raise NumericalError when a block input (or its attention) the request uses is not finite."""
    for layer in layer_list:
        parts = [("input z", cache.z[layer]), ("output", cache.z_next[layer])]
        parts += [("attention", cache.attention[layer])] if attention and cache.attention[layer] is not None else []
        for what, values in parts:  # [T, D] or [H, T, T]
            if not bool(torch.isfinite(values).all()):
                raise NumericalError(
                    f"the forward pass of {name} gives non-finite values (NaN or Inf) in block {layer}'s "
                    f"{what}: the weights overflow in {str(dtype).removeprefix('torch.')}; nothing was "
                    f"computed for this text (check the weights, or try --dtype float64)")


def _self_probs(cache: ForwardCache, layer_list: list[int]) -> np.ndarray:
    """Attention probability j -> j per head on the real input [nL, H, T]: itb_map_ratio's ``a``."""
    return np.stack([torch.diagonal(cache.attention[layer], dim1=-2, dim2=-1).double().cpu().numpy()
                     for layer in layer_list])


def completeness_warnings(exp: Explanation) -> list[str]:
    """One line per (run, layer) with ratios off by more than the tolerance from a perfect ratio
    (1, or (n−1)/n for trapezoid-captum: ``expected_ratio``), naming the worst."""
    lines = []
    for key, run in exp.runs.items():
        expected = np.broadcast_to(expected_ratio(exp.quadrature, run), run.completeness.shape)
        for index, layer in enumerate(exp.layers):
            ratio = run.completeness[index]  # [T] or [H, T]
            off = np.abs(ratio - expected[index])
            bad = np.nan_to_num(off, nan=0.0) > exp.tolerance
            if bad.any():
                worst = np.unravel_index(np.nanargmax(np.where(bad, off, -1.0)), ratio.shape)
                where = f"target {worst[-1]}" + (f" head {worst[0]}" if ratio.ndim == 2 else "")
                lines.append(f"layer {layer} {key}: {int(bad.sum())} completeness ratios off by more "
                             f"than {exp.tolerance} (worst: {where}, ratio {ratio[worst]:.4f})")
    return lines


def _check_text(text: str) -> None:
    """Reject empty text before the model is loaded (loading is the slow part)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"text is empty ({text!r}): give at least one word to explain")


def _check_batch_size(batch_size: int | str) -> None:
    if batch_size != "auto" and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                 or batch_size < 1):
        raise InputError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")


def _check_settings(steps: int | str, quadrature: str, tolerance: float) -> None:
    """Reject bad settings before any model is loaded (loading is the slow part)."""
    if quadrature not in QUADRATURES:
        raise InputError(f"unknown quadrature {quadrature!r}; valid: {', '.join(QUADRATURES)}")
    if steps != "auto" and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise InputError(f"steps must be a positive integer or 'auto', got {steps!r}")
    if steps != "auto" and steps > MAX_STEPS:
        raise InputError(steps_limit(int(steps)))
    if quadrature == "trapezoid-captum" and steps != "auto" and steps < 2:
        raise InputError(f"trapezoid-captum needs at least 2 steps, got {steps}")
    if not isinstance(tolerance, (int, float)) or not tolerance > 0:
        raise InputError(f"tolerance must be a positive number, got {tolerance!r}")


def _granularities(granularity: str | Sequence[str], adapter: HFAdapter) -> tuple[str, ...]:
    """The requested granularities, checked against what the model's family supports."""
    if granularity == "all":
        return tuple(adapter.granularities)
    names = (granularity,) if isinstance(granularity, str) else tuple(granularity)
    for name in names:
        if name not in GRANULARITIES:
            raise InputError(f"unknown granularity {name!r}; valid: {', '.join(GRANULARITIES)} or 'all'")
        if name not in adapter.granularities:
            raise InputError(f"granularity {name!r} is not available for {adapter.name} "
                             f"({adapter.model_type} is block-only); it offers: "
                             f"{', '.join(adapter.granularities)}")
    if not names:
        raise InputError("granularity is empty; choose from att, mlp, layer or 'all'")
    return tuple(g for g in GRANULARITIES if g in names)


def _baselines(baselines: Mapping[str, Sequence[str]] | None,
               wanted: tuple[str, ...]) -> dict[str, list[str]]:
    """Requested baselines per granularity (default: every valid one), each checked."""
    given = dict(baselines or {})
    for g in given:
        if g not in wanted:
            raise InputError(f"baselines given for {g!r}, which is not a requested granularity "
                             f"({', '.join(wanted)})")
    out = {}
    for g in wanted:
        names = given.get(g)
        names = list(BASELINES[g]) if names is None else [names] if isinstance(names, str) else list(names)
        for name in names:
            if name not in BASELINES[g]:
                raise InputError(f"baseline {name!r} is not valid for {g}; valid: {', '.join(BASELINES[g])}")
        if not names:
            raise InputError(f"no baseline given for {g}; valid: {', '.join(BASELINES[g])}")
        out[g] = list(dict.fromkeys(names))
    return out


def _once(values: Iterable[int] | None) -> list[int] | None:
    """``targets`` as a list, read once (an iterator would be spent on the first text)."""
    if values is None:
        return None
    try:
        return list(values)
    except TypeError:
        raise InputError(f"targets must be integers, got {values!r}") from None


def _indices(values: Iterable[int] | None, size: int, what: str, context: str) -> list[int]:
    """Sorted unique indices in [0, size); None means all of them."""
    if values is None:
        return list(range(size))
    try:
        chosen = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        raise InputError(f"{what}s must be integers, got {values!r}") from None
    if not chosen:
        raise InputError(f"no {what} given (an empty list); {context} 0..{size - 1}, or pass None for all")
    bad = [v for v in chosen if not 0 <= v < size]
    if bad:
        raise InputError(f"{what} {bad[0]} is out of range: {context} 0..{size - 1}")
    return chosen
