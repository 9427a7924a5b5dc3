"""The result of one ``explain`` call: raw IG runs plus what is needed to derive everything else.

Only raw runs are stored (att: zero / self_input_token, mlp: zero / att_itb_a0, layer: zero /
self_input_token); ratio variants and composition are derived on access, so nothing computed
twice can disagree. Arrays are full size over tokens: targets not computed are NaN columns.
No torch here: the site reads Explanations too. JSON layout: docs/explanation-format.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ligsite import diskio
from ligsite.errors import InputError
from ligsite.lig import ratios

SCHEMA = 1
# Additions within schema 1 that older files lack (readers take them as absent):
# 1: token_spans and unk_token (the characters behind each token, for unknown tokens).
# 2: settings.routing (mixture-of-experts models: the rule and each token's expert per layer).
SCHEMA_MINOR = 2
GRANULARITIES = ("att", "mlp", "layer")
BASELINES = {
    "att": ("zero", "self_input_token", "itb_zero_ratio", "itb_map_ratio"),
    "mlp": ("zero", "att_itb_a0"),
    "layer": ("zero", "self_input_token", "itb_zero_ratio"),
}
RAW_NEEDED = {  # the raw runs a baseline is derived from
    "zero": ("zero",),
    "self_input_token": ("self_input_token",),
    "itb_zero_ratio": ("zero", "self_input_token"),
    "itb_map_ratio": ("self_input_token",),
    "att_itb_a0": ("att_itb_a0",),
}
AXES = {  # per stored array, outermost first
    "scores": {"att": "layer,head,source,target", "mlp": "layer,target,head",
               "layer": "layer,source,target"},
    "value": {"att": "layer,head,target", "mlp": "layer,target", "layer": "layer,target"},
}


@dataclass
class Run:
    """One raw IG run over all computed layers: scores, L(x), completeness ratios, nodes used."""

    scores: np.ndarray  # att [nL, H, T, T], mlp [nL, T, H], layer [nL, T, T]
    value: np.ndarray  # L(x): att [nL, H, T], mlp/layer [nL, T]
    completeness: np.ndarray  # same shape as value; NaN: not computed or L(x) = 0
    steps: np.ndarray  # nodes used per target [nL, T] (0: not computed)


def expected_ratio(quadrature: str, run: Run) -> np.ndarray | float:
    """A perfect completeness ratio under ``quadrature``: 1, or for ``trapezoid-captum`` (whose
    weights sum to (n−1)/n) ``(n−1)/n`` per target, shaped to broadcast against
    ``run.completeness`` ([nL, T] or [nL, H, T]; NaN where no target was computed). The one
    definition the API's warnings, the build summary, its worst ratio and ``ligsite analyze``'s
    completeness table use."""
    if quadrature != "trapezoid-captum":
        return 1.0
    n = np.asarray(run.steps, dtype=np.float64)  # [nL, T]; 0 where not computed
    expected = np.where(n > 0, (n - 1.0) / np.where(n > 0, n, 1.0), np.nan)
    return expected[:, None, :] if np.ndim(run.completeness) == 3 else expected


@dataclass
class Explanation:
    """LIG attributions of one text (see the module docstring and docs/explanation-format.md)."""

    text: str
    tokens: list[str]
    word_ids: list[int | None]
    model: str
    model_identity: str
    model_type: str
    n_heads: int
    layers: list[int]  # true block indices, in the order of the stored arrays
    targets: list[int]
    steps: int | str  # the request: an int or "auto"
    quadrature: str
    dtype: str
    tolerance: float
    baselines: dict[str, list[str]]  # requested, per granularity
    runs: dict[str, Run]  # key "<granularity>:<raw baseline>"
    self_probs: np.ndarray | None = None  # attention prob j -> j on the real input [nL, H, T]
    weights_dtype: str = "float32"  # the model forward's dtype (IG runs in ``dtype``)
    warnings: list[str] = field(default_factory=list)
    ligsite_version: str = "0.1.0"
    # [start, end) of each token in ``text`` (Python string indices), None for a token that covers
    # no character (special tokens); None for the whole list when not recorded (older files, slow
    # tokenizers). With ``unk_token`` it maps unknown tokens back to their characters.
    token_spans: list[tuple[int, int] | None] | None = None
    unk_token: str | None = None  # the tokenizer's unknown token ("[UNK]"), None if it has none
    # mixture-of-experts models: {"rule": how experts were chosen along the paths, "experts": per
    # layer of ``layers`` the expert of each token [T] (-1: dropped by capacity), or None for a
    # dense block}; None for dense models and older files
    routing: dict[str, Any] | None = None

    def unknown_text(self) -> dict[int, str]:
        """Token index -> the characters of ``text`` it stands for, for every unknown token."""
        if self.token_spans is None or self.unk_token is None or len(self.token_spans) != len(self.tokens):
            return {}
        return {k: self.text[span[0]:span[1]] for k, (token, span) in enumerate(zip(self.tokens, self.token_spans))
                if token == self.unk_token and span is not None and 0 <= span[0] < span[1] <= len(self.text)}

    # --- matrices -------------------------------------------------------------------------
    def z2z(self, layer: int, baseline: str = "zero") -> np.ndarray:
        """Direct z→z scores ``[T_src, T_tgt]`` of block ``layer``."""
        return self._derived("layer", layer, baseline)

    def att(self, layer: int, baseline: str = "zero") -> np.ndarray:
        """z→u scores ``[H, T_src, T_tgt]`` of block ``layer``."""
        return self._derived("att", layer, baseline)

    def mlp(self, layer: int, baseline: str = "zero") -> np.ndarray:
        """u→z scores ``[T_tgt, H]`` of block ``layer`` (one per real head)."""
        return self._derived("mlp", layer, baseline)

    def composed(self, layer: int, att_baseline: str = "zero", mlp_baseline: str = "zero") -> np.ndarray:
        """Composed z→z ``[T_src, T_tgt]``: ``Σ_h ATT[h, i, j] · MLP[j, h]``."""
        return ratios.composed(self.att(layer, att_baseline), self.mlp(layer, mlp_baseline))

    def completeness(self, granularity: str, layer: int, baseline: str = "zero") -> np.ndarray:
        """Ratios ``Σ_i score_i / L(x)``: ``[T]`` (att: ``[H, T]``); NaN where not computed or L = 0.

        Ratio variants keep ITB's column sums, so they report ITB's ratios.
        """
        self._check_baseline(granularity, baseline)
        raw = "self_input_token" if baseline.startswith("itb_") else baseline
        return self._run(granularity, raw).completeness[self._layer_index(layer)]

    def l2(self, layer: int, layer_baseline: str = "zero", att_baseline: str = "zero",
           mlp_baseline: str = "zero") -> dict[str, np.ndarray]:
        """Direct vs composed, per target column: ``abs``, ``rel``, ``pearson``, each ``[T]``."""
        return ratios.l2_columns(self.z2z(layer, layer_baseline),
                                 self.composed(layer, att_baseline, mlp_baseline))

    def l2_summary(self, layer_baseline: str = "zero", att_baseline: str = "zero",
                   mlp_baseline: str = "zero") -> dict[str, Any]:
        """Per-layer means over target columns (lists over ``layers``) and the pooled means."""
        columns = [self.l2(layer, layer_baseline, att_baseline, mlp_baseline) for layer in self.layers]
        out: dict[str, Any] = {}
        pooled: dict[str, float | None] = {}
        for name in ("abs", "rel", "pearson"):
            stack = np.stack([c[name] for c in columns])  # [nL, T]
            out[name] = [_mean(row) for row in stack]
            pooled[name] = _mean(stack)
        out["pooled"] = pooled
        return out

    @property
    def granularities(self) -> list[str]:
        """The granularities with at least one raw run (plus "composed" when att and mlp exist)."""
        found = [g for g in GRANULARITIES if any(k.startswith(g + ":") for k in self.runs)]
        return found + (["composed"] if "att" in found and "mlp" in found else [])

    # --- (de)serialization ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema ``SCHEMA``); NaN becomes null."""
        return {
            "schema": SCHEMA, "schema_minor": SCHEMA_MINOR, "ligsite": self.ligsite_version, "text": self.text,
            "tokens": self.tokens, "word_ids": self.word_ids,
            "token_spans": None if self.token_spans is None else [None if s is None else list(s) for s in self.token_spans],
            "unk_token": self.unk_token,
            "model": {"name": self.model, "identity": self.model_identity,
                      "type": self.model_type, "n_heads": self.n_heads},
            "settings": {"steps": self.steps, "quadrature": self.quadrature, "dtype": self.dtype,
                         "weights_dtype": self.weights_dtype, "tolerance": self.tolerance,
                         **({} if self.routing is None else {"routing": self.routing})},  # MoE models only
            "layers": self.layers, "targets": self.targets, "baselines": self.baselines,
            "axes": AXES,
            "runs": {key: {"scores": _list(r.scores), "value": _list(r.value),
                           "completeness": _list(r.completeness), "steps": r.steps.tolist()}
                     for key, r in self.runs.items()},
            "self_probs": None if self.self_probs is None else _list(self.self_probs),
            "completeness_warning": bool(self.warnings), "warnings": self.warnings,
        }

    def save(self, path: str | Path) -> None:
        """Write the JSON document to ``path`` completely or not at all (temporary file + rename).

        An OSError (full disk, read-only folder) leaves a previous file at ``path`` as it was.
        """
        diskio.replace_atomically(Path(path), orjson.dumps(self.to_dict()))

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Explanation:
        """Rebuild from ``to_dict``'s document; null becomes NaN."""
        if doc.get("schema") != SCHEMA:
            raise InputError(f"Explanation schema {doc.get('schema')!r} is not supported; this ligsite reads {SCHEMA}")
        runs = {key: Run(_array(r["scores"]), _array(r["value"]), _array(r["completeness"]),
                         np.asarray(r["steps"], dtype=np.int64)) for key, r in doc["runs"].items()}
        model, settings = doc["model"], doc["settings"]
        return cls(
            text=doc["text"], tokens=doc["tokens"], word_ids=doc["word_ids"], model=model["name"],
            model_identity=model["identity"], model_type=model["type"], n_heads=model["n_heads"],
            layers=doc["layers"], targets=doc["targets"], steps=settings["steps"],
            quadrature=settings["quadrature"], dtype=settings["dtype"], tolerance=settings["tolerance"],
            baselines=doc["baselines"], runs=runs,
            self_probs=None if doc["self_probs"] is None else _array(doc["self_probs"]),
            warnings=doc["warnings"], ligsite_version=doc["ligsite"],
            weights_dtype=settings.get("weights_dtype", "float32"),  # files before it was recorded
            token_spans=_spans(doc.get("token_spans")), unk_token=doc.get("unk_token"),  # absent before minor 1
            routing=settings.get("routing"),  # absent before minor 2
        )

    @classmethod
    def load(cls, path: str | Path) -> Explanation:
        """Read a file written by ``save``."""
        return cls.from_dict(orjson.loads(Path(path).read_bytes()))

    # --- internals ------------------------------------------------------------------------
    def _derived(self, granularity: str, layer: int, baseline: str) -> np.ndarray:
        """A raw run's matrix, or a ratio variant computed from the raw runs it needs."""
        self._check_baseline(granularity, baseline)
        index = self._layer_index(layer)
        if baseline == "itb_zero_ratio":
            return ratios.itb_zero_ratio(self._run(granularity, "self_input_token").scores[index],
                                         self._run(granularity, "zero").scores[index])
        if baseline == "itb_map_ratio":
            if self.self_probs is None:
                raise InputError("itb_map_ratio needs attention probabilities, which this explanation lacks")
            return ratios.itb_map_ratio(self._run("att", "self_input_token").scores[index],
                                        self.self_probs[index])
        return self._run(granularity, baseline).scores[index]

    def _check_baseline(self, granularity: str, baseline: str) -> None:
        if granularity not in BASELINES:
            raise InputError(f"unknown granularity {granularity!r}; valid: {', '.join(GRANULARITIES)}")
        if baseline not in BASELINES[granularity]:
            raise InputError(f"baseline {baseline!r} is not valid for {granularity}; "
                             f"valid: {', '.join(BASELINES[granularity])}")

    def _run(self, granularity: str, raw: str) -> Run:
        try:
            return self.runs[f"{granularity}:{raw}"]
        except KeyError:
            have = ", ".join(sorted(self.runs)) or "none"
            raise InputError(f"{granularity} with baseline {raw!r} was not computed in this "
                             f"explanation; computed runs: {have}") from None

    def _layer_index(self, layer: int) -> int:
        if layer not in self.layers:
            raise InputError(f"layer {layer!r} was not computed; computed layers: {self.layers}")
        return self.layers.index(layer)


def _spans(stored: Any) -> list[tuple[int, int] | None] | None:
    """JSON ``token_spans`` ([[start, end] | null, ...] or null) as tuples."""
    if stored is None:
        return None
    return [None if span is None else (int(span[0]), int(span[1])) for span in stored]


def _list(a: np.ndarray) -> Any:
    """Nested lists of Python floats; NaN -> None (JSON null)."""
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isnan(a), None, a).tolist()


def _array(nested: Any) -> np.ndarray:
    return np.array(nested, dtype=np.float64)


def _mean(values: np.ndarray) -> float | None:
    """Mean over the defined entries; None when there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else None
