"""Several sentences in one batched IG call: right-pad, route, split back.

A padded batch is the block inputs of S sentences stacked as ``z`` [S, T, D] (T the longest),
``padding`` [S, T] True at the rows a shorter sentence was filled with, and per target its
sentence ``rows`` [J] next to its position ``targets`` [J]. Every target's path moves its own
sentence only, and ``attend`` gives padded keys probability exactly 0 (its ``padding``
option), so each target's integrand is the one it has alone: batching changes the numbers by
rounding only. Padded source columns get exactly zero attribution and are cut off by ``split``.

Only blocks that are the same function for every sentence can share a call: the post-LN
projection path (``affine_project``) with no sentence-specific constant (a relative-position
bias, DeBERTa's relative dot products or convolution window, a captured mask) and an
``attend`` that takes ``padding``. A block class says so itself with a ``shares_calls`` bool
(``ligsite.models.bert.PostLNBlock``: true without a bias, relative terms or window; absent:
false); everything else runs one sentence at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ligsite.models.base import Block


@dataclass(frozen=True)
class Padded:
    """Where the targets of a padded batch z [S, T, D] live."""

    rows: Tensor  # [J] each target's sentence
    padding: Tensor  # [S, T] True at the rows a shorter sentence was filled with

    def subset(self, keep: Tensor) -> Padded:
        """The same batch for the targets ``keep`` [J] (bool) selects."""
        return Padded(self.rows[keep], self.padding)


def shares_calls(block: Block) -> bool:
    """Whether targets of different sentences may share this block's IG calls (see above): the
    block's own ``shares_calls``, false for a block that does not say."""
    return bool(getattr(block, "shares_calls", False))


def pad(inputs: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Block inputs [T_s, D] of S sentences -> z [S, T, D] (zeros after each end), padding [S, T]."""
    t = max(x.shape[0] for x in inputs)
    z = inputs[0].new_zeros((len(inputs), t, inputs[0].shape[-1]))  # [S, T, D]
    padding = torch.ones((len(inputs), t), dtype=torch.bool, device=z.device)  # [S, T]
    for s, x in enumerate(inputs):
        z[s, : x.shape[0]] = x
        padding[s, : x.shape[0]] = False
    return z, padding


def split(values: Tensor, rows: Tensor, lengths: Sequence[int], source_axis: int | None) -> list[Tensor]:
    """Per sentence, its targets' slice of ``values`` [J, ...], in the order given; the source
    axis (``source_axis`` of the result, None: none) cut to the sentence's own length."""
    out = []
    for s, t in enumerate(lengths):
        part = values[rows == s]
        out.append(part if source_axis is None else part.narrow(source_axis, 0, t))
    return out


def groups(lengths: Sequence[int], targets: Sequence[int], cost: Callable[[int, int, int], int], budget: int,
           most: int) -> list[list[int]]:
    """Sentence indices per shared call: sorted by token length (little padding), each group as
    large as ``cost(targets, sentences, longest)`` bytes within ``budget`` allows (its sentences'
    target counts summed, how many sentences, its longest token length), and at most ``most``
    sentences. A sentence too big for the budget alone is a group of one (the IG core chunks it)."""
    order = sorted(range(len(lengths)), key=lambda s: lengths[s])
    out: list[list[int]] = []
    for s in order:
        group = out[-1] if out else None
        if (group and len(group) < most
                and cost(sum(targets[g] for g in group) + targets[s], len(group) + 1, lengths[s]) <= budget):
            group.append(s)
        else:
            out.append([s])
    return out
