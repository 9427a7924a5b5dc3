"""The scratch store of ``ligsite analyze``: every target column's numbers on disk, and summary.csv
from them with exact order statistics in bounded memory.

One scratch file per (axis, triple) holds float64 records ``[kind, layer, sentence, abs, rel,
pearson]``: one per target column (kind COLUMN) and one per sentence and layer with the sentence's
means (kind SENTENCE). Medians and quartiles are found by radix selection over those files,
``CHUNK_ROWS`` records at a time, so memory does not grow with the corpus.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ligsite.analysis_columns import ALL, AXES, METRICS, QUANTILES, Triple, describe, layer_name, quantile
from ligsite.analysis_tables import KEY_COLUMNS
from ligsite.samples import Sample

COLUMN, SENTENCE = 0.0, 1.0  # record kinds in the scratch files
WIDTH = 6  # scratch record: kind, layer, sentence index, abs, rel, pearson (float64 each)
CHUNK_ROWS = 1 << 12  # records read at once from a scratch file: memory is bounded by this


class Store:
    """One scratch file per (axis, triple) of float64 records ``[kind, layer, sentence, abs, rel, pearson]``."""

    def __init__(self, folder: Path, wanted: list[Triple]) -> None:
        self.triples = wanted
        self.paths = {(axis, t): folder / f"{axis}-{k}.f8" for axis in AXES for k, t in enumerate(wanted)}
        self.layers: dict[int, None] = {}

    def add(self, axis: str, triple: Triple, sentence: int, layers: list[int],
            columns: dict[str, np.ndarray]) -> list[list[Any]]:
        """Append one sentence's columns and per-sentence means; its per_sentence.csv rows."""
        stacked = np.stack([columns[m] for m in METRICS], axis=-1)  # [nL, T, 3]
        records, rows = [], []
        for layer, values in [*zip(layers, stacked), (ALL, stacked.reshape(-1, len(METRICS)))]:
            kept = values[np.isfinite(values[:, 0])]  # a NaN abs: a target that was not computed
            stats = describe(kept)
            if layer != ALL:
                self.layers.setdefault(layer, None)
                records.append(np.column_stack([np.full((len(kept), 3), (COLUMN, layer, sentence)), kept]))
            records.append(np.array([[SENTENCE, layer, sentence, *(s[1] for s in stats)]]))
            rows.append([axis, layer_name(layer), *triple, len(kept), *(x for s in stats for x in s)])
        with self.paths[(axis, triple)].open("ab") as handle:
            np.concatenate(records).astype("<f8").tofile(handle)
        return rows

    def summary(self, samples: list[Sample]) -> list[dict[str, Any]]:
        """summary.csv rows: per axis, layer (then all layers) and triple, from the scratch files."""
        per_file = {key: summary_rows(path, *key, sorted(self.layers), samples) for key, path in self.paths.items()}
        groups = len(self.layers) + 1
        return [per_file[(axis, triple)][g] for axis in AXES for g in range(groups) for triple in self.triples]


def _chunks(path: Path) -> Iterator[np.ndarray]:
    """The records of a scratch file, ``CHUNK_ROWS`` at a time, as ``[rows, WIDTH]``."""
    with path.open("rb") as handle:
        while True:
            block = np.fromfile(handle, dtype="<f8", count=CHUNK_ROWS * WIDTH)
            if not block.size:
                return
            yield block.reshape(-1, WIDTH)


def _select(chunk: np.ndarray, kind: float, layer: int) -> np.ndarray:
    """The records of one group: columns of a layer (ALL: of every layer), or per-sentence means."""
    rows = chunk[chunk[:, 0] == kind]
    return rows if kind == COLUMN and layer == ALL else rows[rows[:, 1] == layer]


def _sortable(values: np.ndarray) -> np.ndarray:
    """float64 -> uint64 keys in the same order (flip the sign bit of positives, all bits of negatives)."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    negative = (bits >> np.uint64(63)) == 1
    return np.where(negative, ~bits, bits | np.uint64(1 << 63))


def _unsortable(key: int) -> float:
    bits = key ^ (1 << 63) if key >> 63 else ~key & 0xFFFF_FFFF_FFFF_FFFF
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


Group = tuple[float, int, int]  # (record kind, layer or ALL, metric index)


def order_statistics(path: Path, wanted: dict[Group, list[int]]) -> dict[tuple[Group, int], float]:
    """The ``ranks``-th smallest finite values (0-based) of each group's metric, exactly.

    Radix selection on the values' sortable bits, one byte per pass over the file: 8 passes of
    ``CHUNK_ROWS`` records at a time for every group at once, so memory stays fixed however long
    the file is.
    """
    state = {(group, rank): (0, rank) for group, ranks in wanted.items() for rank in ranks}  # (prefix, rank left)
    for shift in range(56, -1, -8):
        counts = {key: np.zeros(256, dtype=np.int64) for key in state}
        for chunk in _chunks(path):
            for group, ranks in wanted.items():
                values = _select(chunk, group[0], group[1])[:, 3 + group[2]]
                keys = _sortable(values[np.isfinite(values)])
                for rank in ranks:
                    prefix = np.uint64(state[(group, rank)][0])
                    picked = keys if shift == 56 else keys[(keys >> np.uint64(shift + 8)) == prefix]
                    digits = ((picked >> np.uint64(shift)) & np.uint64(255)).astype(np.intp)
                    counts[(group, rank)] += np.bincount(digits, minlength=256)
        for key, count in counts.items():
            prefix, left = state[key]
            cumulative = np.cumsum(count)
            digit = int(np.searchsorted(cumulative, left, side="right"))
            state[key] = ((prefix << 8) | digit, left - (int(cumulative[digit - 1]) if digit else 0))
    return {key: _unsortable(prefix) for key, (prefix, _) in state.items()}


def _ranks(n: int) -> tuple[list[float], list[int]]:
    """Positions of ``QUANTILES`` among n sorted values and the ranks they interpolate between."""
    positions = [q * (n - 1) for q in QUANTILES]
    return positions, sorted({r for p in positions for r in (math.floor(p), min(math.floor(p) + 1, n - 1))})



def _totals(path: Path, groups: list[tuple[float, int]]) -> dict[tuple[float, int], tuple[int, list[int], list[float]]]:
    """Per (kind, layer) group: records, finite count per metric, sum per metric (one pass)."""
    totals = {g: [0, [0] * len(METRICS), [0.0] * len(METRICS)] for g in groups}
    for chunk in _chunks(path):
        for group in groups:
            rows = _select(chunk, *group)
            entry = totals[group]
            entry[0] += len(rows)
            for k in range(len(METRICS)):
                finite = rows[:, 3 + k][np.isfinite(rows[:, 3 + k])]
                entry[1][k] += finite.size
                entry[2][k] += float(finite.sum())
    return {g: (e[0], e[1], e[2]) for g, e in totals.items()}


def _median_samples(path: Path, medians: dict[int, float], samples: list[Sample]) -> dict[int, str]:
    """Per layer: the first sample (corpus order) whose per-sentence mean Pearson is ``medians[layer]``."""
    found: dict[int, str] = {}
    pearson = 3 + METRICS.index("pearson")
    for chunk in _chunks(path):
        for layer, value in medians.items():
            rows = _select(chunk, SENTENCE, layer)
            hits = rows[rows[:, pearson] == value]
            if layer not in found and len(hits):
                found[layer] = samples[int(hits[0, 2])].id
    return found


def summary_rows(path: Path, axis: str, triple: Triple, layers: list[int], samples: list[Sample]) -> list[dict[str, Any]]:
    """summary.csv rows of one scratch file: one per layer, then all layers pooled."""
    groups = [*layers, ALL]
    totals = _totals(path, [(kind, layer) for kind in (COLUMN, SENTENCE) for layer in groups])
    pearson = METRICS.index("pearson")
    wanted: dict[Group, list[int]] = {}
    for layer in groups:
        for k in range(len(METRICS)):
            if totals[(COLUMN, layer)][1][k]:
                wanted[(COLUMN, layer, k)] = _ranks(totals[(COLUMN, layer)][1][k])[1]
        if totals[(SENTENCE, layer)][1][pearson]:  # the lower median of the per-sentence means
            wanted[(SENTENCE, layer, pearson)] = [(totals[(SENTENCE, layer)][1][pearson] - 1) // 2]
    at = order_statistics(path, wanted)
    medians = {layer: at[((SENTENCE, layer, pearson), ranks[0])]
               for (kind, layer, _), ranks in wanted.items() if kind == SENTENCE}
    examples = _median_samples(path, medians, samples)
    return [_summary_row(axis, layer, triple, totals[(COLUMN, layer)], totals[(SENTENCE, layer)],
                         {k: {r: at[((COLUMN, layer, k), r)] for r in wanted.get((COLUMN, layer, k), [])}
                          for k in range(len(METRICS))}, examples.get(layer, ""))
            for layer in groups]


def _summary_row(axis: str, layer: int, triple: Triple, columns: tuple, sentences: tuple,
                 at: dict[int, dict[int, float]], example: str) -> dict[str, Any]:
    (n_columns, counts, sums), (n_sentences, sentence_counts, sentence_sums) = columns, sentences
    row: dict[str, Any] = dict(zip(KEY_COLUMNS, (axis, layer_name(layer), *triple)))
    row |= {"n_sentences": n_sentences, "n_columns": n_columns}
    for k, metric in enumerate(METRICS):
        n = counts[k]
        q25, median, q75 = [quantile(at[k], p, n) for p in _ranks(n)[0]] if n else [math.nan] * 3
        row |= {f"{metric}_n": n, f"{metric}_undefined": n_columns - n,
                f"{metric}_mean": sums[k] / n if n else math.nan,
                f"{metric}_median": median, f"{metric}_q25": q25, f"{metric}_q75": q75,
                f"{metric}_iqr": q75 - q25,
                f"{metric}_sentence_mean": sentence_sums[k] / sentence_counts[k] if sentence_counts[k] else math.nan,
                f"{metric}_sentences": sentence_counts[k],
                f"{metric}_undefined_sentences": n_sentences - sentence_counts[k]}
    row["median_sample"] = example
    return row
