"""Every raw IG run of a group of texts, layer by layer: one call per route, shared by the group.

``api.explain_many`` tokenizes and forwards; this runs the routes. A group of one text runs as
always; a larger group (``groups_for``: only where the family's blocks can share calls, of
similar length, within the byte budget) goes through each route as one right-padded batch
(``ligsite.lig.batch``), and each text gets its own full-size arrays back (NaN: target not
computed).
"""

from __future__ import annotations

import numpy as np
import torch

from ligsite.errors import InputError, NumericalError
from ligsite.explanation import BASELINES, GRANULARITIES, RAW_NEEDED, Run
from ligsite.lig.batch import Padded, groups, pad, shares_calls, split
from ligsite.lig.completeness import AUTO_START, RouteRun, run_route
from ligsite.lig.ig import ACTIVATION_FACTOR, memory_budget
from ligsite.models.base import ForwardCache
from ligsite.models.hf import HFAdapter

# explain_many(batch_size="auto"): at most this many sentences share one IG call (the byte budget
# decides below it). A build hands each engine call executors.AUTO_PER_CALL samples at most (16),
# so there the smaller number rules; docs/scaling.md#batching names both.
AUTO_SHARED_MOST = 64


def groups_for(adapter: HFAdapter, layer_list: list[int], lengths: list[int], target_lists: list[list[int]],
               dtype: torch.dtype, steps: int | str, batch_size: int | str) -> list[list[int]]:
    """Which texts share IG calls: groups of similar token length (``lengths``) within the byte
    budget, or one each.

    Cost of a group (``call_bytes``): its targets times what one target costs at the longest
    length, within the device's budget (``ig.memory_budget``). "auto" shares on CUDA only: on a
    CPU a real model's call is compute-bound already (measured with ``python -m ligsite.bench
    --batching``: a MiniLM-shaped model ran 0.7-0.9x shared), and one sentence at a time keeps a
    CPU's numbers independent of which samples ran together.
    """
    alone = [[s] for s in range(len(target_lists))]
    if len(target_lists) == 1 or batch_size == 1 or (batch_size == "auto" and adapter.device.type != "cuda"):
        return alone
    if not _blocks_share(adapter, layer_list[0]):
        return alone
    n = AUTO_START if steps == "auto" else int(steps)
    size = torch.empty((), dtype=dtype).element_size()

    def cost(targets: int, sentences: int, longest: int) -> int:
        return call_bytes(targets, sentences, longest, adapter.n_heads, adapter.head_dim, adapter.hidden_size, n, size)

    most = AUTO_SHARED_MOST if batch_size == "auto" else int(batch_size)
    return groups(lengths, [len(t) for t in target_lists], cost, memory_budget(adapter.device), most)


def call_bytes(targets: int, sentences: int, longest: int, heads: int, head_dim: int, hidden: int, nodes: int,
               size: int) -> int:
    """Bytes of one shared call at the longest length T: per target, the projection path's gates
    (s_k, s_v [T, H], s_q [H] and the residual row [D] at every node, with autograd state, as the
    IG core counts them) and its set-up, formed before the IG core can chunk anything
    (``routes._projected_ends``: its own sentence's K, V, ΔK, ΔV [T, H, d], about 4·T·H·d); per
    sentence, mlp's real attention (scores and probabilities [H, T, T])."""
    path = (2 * longest * heads + heads + hidden) * nodes * size * ACTIVATION_FACTOR
    setup = 4 * longest * heads * head_dim * size
    attention = 2 * heads * longest * longest * size
    return targets * (path + setup) + sentences * attention


def _blocks_share(adapter: HFAdapter, layer: int) -> bool:
    """Whether the family's blocks share calls (``shares_calls``), asked of the layer's own
    module (never a copy in another dtype)."""
    try:
        block = adapter.make_block(adapter.layers()[layer], layer)
    except InputError:  # a block replayed from a real forward: it holds one sentence's constants
        return False
    return shares_calls(block)


def compute(adapter: HFAdapter, caches: list[ForwardCache], layer_list: list[int], target_lists: list[list[int]],
             requested: dict[str, list[str]], dtype: torch.dtype, quadrature: str,
             steps: int | str, tolerance: float, texts: list[str] | None = None) -> list[dict[str, Run]]:
    """Every raw run of each text, layer by layer, stacked into full-size arrays (NaN: target not
    computed). Several texts go through each route as one padded batch (``ligsite.lig.batch``).
    ``texts``: the caches' texts, named when one of them gives non-finite values."""
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
            _check_route(result, layer, f"{g}:{b}", dtype, rows if batch is not None else None, texts)
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


def _check_route(result: RouteRun, layer: int, route: str, dtype: torch.dtype, rows: torch.Tensor | None = None,
                 texts: list[str] | None = None) -> None:
    """Raise NumericalError for Inf anywhere or NaN in scores / L(x) (NaN ratio only where L(x) = 0),
    naming the text it came from: of a padded batch, the sentence of the first failing target
    (``rows`` [J]: each target's sentence)."""
    j = len(result.value)
    finite = {name: torch.isfinite(getattr(result, name)).reshape(j, -1).all(1) for name in ("scores", "value")}
    ratio_bad = (torch.isinf(result.ratio) | (torch.isnan(result.ratio) & (result.value != 0))).reshape(j, -1).any(1)
    failing = ~finite["scores"] | ~finite["value"] | ratio_bad  # [J]
    if not bool(failing.any()):
        return
    bad = [name for name, ok in finite.items() if not bool(ok.all())]
    sentence = 0 if rows is None else int(rows[failing][0])
    which = "this text" if texts is None else f"the text {_shortened(texts[sentence])}"
    raise NumericalError(
        f"layer {layer} route {route}: the {' and '.join(bad) or 'completeness ratios'} hold non-finite "
        f"values (NaN or Inf) in {str(dtype).removeprefix('torch.')}; {which}'s result would be "
        f"wrong, so it is not kept (check the weights, or try --dtype float64)")


def _shortened(text: str, most: int = 40) -> str:
    """A text as an error names it: quoted, cut to ``most`` characters."""
    return repr(text if len(text) <= most else text[: most - 1] + "…")


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
