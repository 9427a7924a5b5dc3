"""``explain``: validate a request, run the raw IG routes it needs, return an ``Explanation``.

Ratio baselines are post-processing, so a request maps to a set of *raw* runs (at most two per
granularity) and each runs once. One no-grad forward caches every block's real input; blocks
are then independent, so the loop is over layers and raw runs only.

``explain_many`` does the same for several texts, and where the family's blocks allow it
(``ligsite.lig.batch.shares_calls``: the post-LN encoders) sentences of similar length share
every IG call, as one right-padded batch with masked keys: the same numbers as one at a time
(to rounding), in fewer and larger calls. How many share one call: ``batch_size`` sentences at
most, and no more than the IG core's byte budget holds in one chunk (``ig.memory_budget``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

from ligsite import __version__
from ligsite.config import MAX_STEPS, steps_limit
from ligsite.errors import InputError, NumericalError
from ligsite.explanation import BASELINES, GRANULARITIES, RAW_NEEDED, Explanation, Run, expected_ratio
from ligsite.lig.batch import Padded, groups, pad, shares_calls, split
from ligsite.lig.completeness import AUTO_START, RouteRun, run_route
from ligsite.lig.ig import ACTIVATION_FACTOR, memory_budget
from ligsite.lig.quadrature import QUADRATURES
from ligsite.models.base import ForwardCache
from ligsite.models.describe import describe_boundaries
from ligsite.models.hf import HFAdapter
from ligsite.models.loading import DEFAULT_MODEL, arithmetic_dtype, load

__all__ = ["explain", "explain_many", "describe_boundaries", "CompletenessWarning"]
TOLERANCE = 0.02
BATCH_MOST = 64  # sentences in one shared call with batch_size="auto" (the byte budget decides below it)


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
    budget holds; "auto": up to 64 on CUDA, one at a time on a CPU (where sharing does not pay).
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
    target_lists = [_indices(targets, len(tokens.tokens), "target", "the text has tokens") for tokens in tokenized]
    out: list[Explanation] = [None] * len(texts)  # type: ignore[list-item]
    for group in _groups(adapter, layer_list, target_lists, torch_dtype, steps, batch_size):
        caches = [adapter.forward(tokenized[s].input_ids) for s in group]  # blocks may read the last one
        for cache in caches:
            _check_forward(cache, layer_list, "att" in wanted, adapter.name, torch_dtype)
        runs = _compute(adapter, caches, layer_list, [target_lists[s] for s in group], requested,
                        torch_dtype, quadrature, steps, tolerance)
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


def _groups(adapter: HFAdapter, layer_list: list[int], target_lists: list[list[int]], dtype: torch.dtype,
            steps: int | str, batch_size: int | str) -> list[list[int]]:
    """Which texts share IG calls: groups of similar length within the byte budget, or one each.

    Cost of a group: its targets times the projection path's bytes per target at the longest
    length (gates s_k, s_v [T, H], s_q [H] and the residual row [D] at every node), as the IG
    core counts them, within the device's budget (``ig.memory_budget``). "auto" shares on CUDA
    only: on a CPU a real model's call is compute-bound already (measured with ``python -m
    ligsite.bench --batching``: a MiniLM-shaped model ran 0.7-0.9x shared), and one sentence at a
    time keeps a CPU's numbers independent of which samples ran together.
    """
    alone = [[s] for s in range(len(target_lists))]
    if len(target_lists) == 1 or batch_size == 1 or (batch_size == "auto" and adapter.device.type != "cuda"):
        return alone
    try:
        block = adapter.block(layer_list[0])
    except InputError:  # a block replayed from a real forward: it belongs to one sentence
        return alone
    if not shares_calls(block):
        return alone
    n = AUTO_START if steps == "auto" else int(steps)
    size = torch.empty((), dtype=dtype).element_size()

    def cost(targets: int, longest: int) -> int:
        return targets * (2 * longest * adapter.n_heads + adapter.n_heads + adapter.hidden_size) * n * size * ACTIVATION_FACTOR

    most = BATCH_MOST if batch_size == "auto" else int(batch_size)
    return groups([len(t) for t in target_lists], cost, memory_budget(adapter.device), most)


def _compute(adapter: HFAdapter, caches: list[ForwardCache], layer_list: list[int], target_lists: list[list[int]],
             requested: dict[str, list[str]], dtype: torch.dtype, quadrature: str,
             steps: int | str, tolerance: float) -> list[dict[str, Run]]:
    """Every raw run of each text, layer by layer, stacked into full-size arrays (NaN: target not
    computed). Several texts go through each route as one padded batch (``ligsite.lig.batch``)."""
    device = caches[0].z[0].device
    lengths = [len(cache.input_ids) for cache in caches]
    each = [torch.tensor(t, dtype=torch.long, device=device) for t in target_lists]  # [J_s] per text
    targets = torch.cat(each)  # [J]
    rows = torch.cat([torch.full((len(t),), s, dtype=torch.long, device=device) for s, t in enumerate(each)])  # [J]
    raw = [(g, b) for g in GRANULARITIES if g in requested
           for b in BASELINES[g] if b in {r for x in requested[g] for r in RAW_NEEDED[x]}]
    per_run: list[dict[str, list[Run]]] = [{f"{g}:{b}": [] for g, b in raw} for _ in caches]
    for layer in layer_list:
        block = adapter.block(layer, dtype, device)
        if len(caches) == 1:
            z, batch = caches[0].z[layer].to(dtype), None  # [T, D]
        else:
            z, padding = pad([cache.z[layer].to(dtype) for cache in caches])  # [S, T, D], [S, T]
            batch = Padded(rows, padding)
        for g, b in raw:
            result = run_route(g, block, z, targets, b, quadrature, steps, tolerance, batch)
            _check_route(result, layer, f"{g}:{b}", dtype)
            for s, part in enumerate(_split(result, rows, lengths, g) if batch is not None else [result]):
                per_run[s][f"{g}:{b}"].append(_full_size(g, part, each[s], lengths[s], adapter.n_heads))
    return [{key: Run(*(np.stack([getattr(r, f) for r in parts])
                        for f in ("scores", "value", "completeness", "steps")))
             for key, parts in runs.items()} for runs in per_run]


def _split(result: RouteRun, rows: torch.Tensor, lengths: list[int], granularity: str) -> list[RouteRun]:
    """A padded batch's route run cut into one run per text (source axis cut to its length)."""
    source_axis = None if granularity == "mlp" else 1  # att [J, T, H], layer [J, T]; mlp [J, H]
    parts = [split(getattr(result, name), rows, lengths, source_axis if name == "scores" else None)
             for name in ("scores", "value", "ratio", "steps")]
    return [RouteRun(*fields) for fields in zip(*parts, strict=True)]


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


def _check_route(result: RouteRun, layer: int, route: str, dtype: torch.dtype) -> None:
    """Raise NumericalError for Inf anywhere or NaN in scores / L(x) (NaN ratio only where L(x) = 0)."""
    bad = [name for name in ("scores", "value") if not bool(torch.isfinite(getattr(result, name)).all())]
    ratio_bad = torch.isinf(result.ratio) | (torch.isnan(result.ratio) & (result.value != 0))
    if bad or bool(ratio_bad.any()):
        raise NumericalError(
            f"layer {layer} route {route}: the {' and '.join(bad) or 'completeness ratios'} hold non-finite "
            f"values (NaN or Inf) in {str(dtype).removeprefix('torch.')}; this text's result would be "
            f"wrong, so it is not kept (check the weights, or try --dtype float64)")


def _self_probs(cache: ForwardCache, layer_list: list[int]) -> np.ndarray:
    """Attention probability j -> j per head on the real input [nL, H, T]: itb_map_ratio's ``a``."""
    return np.stack([torch.diagonal(cache.attention[layer], dim1=-2, dim2=-1).double().cpu().numpy()
                     for layer in layer_list])


def _full_size(granularity: str, result: RouteRun, targets: torch.Tensor, t: int, h: int) -> Run:
    """One layer's route output placed in [.., T, T] / [T, H] / [T] arrays with NaN elsewhere."""
    cols = targets.cpu().numpy()
    scores, value, ratio = (x.detach().double().cpu().numpy() for x in
                            (result.scores, result.value, result.ratio))
    steps = np.zeros(t, dtype=np.int64)
    steps[cols] = result.steps.cpu().numpy()
    if granularity == "att":  # scores [J, T, H] -> [H, T_src, T_tgt]; value [J, H] -> [H, T]
        full, full_value, full_ratio = np.full((h, t, t), np.nan), np.full((h, t), np.nan), np.full((h, t), np.nan)
        full[:, :, cols] = scores.transpose(2, 1, 0)
        full_value[:, cols], full_ratio[:, cols] = value.T, ratio.T
    else:
        shape = (t, h) if granularity == "mlp" else (t, t)
        full, full_value, full_ratio = np.full(shape, np.nan), np.full(t, np.nan), np.full(t, np.nan)
        if granularity == "mlp":
            full[cols] = scores  # [T_tgt, H]
        else:
            full[:, cols] = scores.T  # [T_src, T_tgt]
        full_value[cols], full_ratio[cols] = value, ratio
    return Run(full, full_value, full_ratio, steps)


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
