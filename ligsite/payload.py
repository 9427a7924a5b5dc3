"""Explanation -> the compact per-sample payload the viewer loads (docs/architecture.md, schema 1).

Maps are stored as little-endian int16 with one scale per layer (value = q · scale[layer],
q = -32768 encodes NaN): 2 bytes per value, well under the site's 3-byte budget, and a
quantization error of at most scale/2 (1/65534 of the layer's largest magnitude). Everything
else is small: completeness ratios and L2 summaries as rounded floats (null where undefined).
The viewer only lays these out; all numbers are prepared here. No torch: numpy only.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import numpy as np

from ligsite.config import BuildConfig
from ligsite.errors import InputError
from ligsite.samples import Sample

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation

SCHEMA = 1
NAN_CODE = -32768
Q_MAX = 32767
ORIENTATION = "source,target"
SIGNIFICANT = 6  # digits kept in completeness and L2 numbers


def quantize(maps: np.ndarray) -> dict[str, Any]:
    """[nL, T, T] floats -> {"dtype", "shape", "scale": [nL], "data": base64 int16 LE}."""
    values = np.asarray(maps, dtype=np.float64)  # [nL, T_src, T_tgt]
    finite = np.isfinite(values)
    magnitude = np.where(finite, np.abs(values), 0.0).reshape(len(values), -1).max(axis=1, initial=0.0)
    scale = magnitude / Q_MAX  # [nL]; 0 for an all-zero (or all-NaN) layer
    safe = np.where(scale > 0, scale, 1.0)[:, None, None]
    codes = np.clip(np.rint(np.where(finite, values, 0.0) / safe), -Q_MAX, Q_MAX)
    codes = np.where(finite, codes, NAN_CODE).astype("<i2")
    return {
        "dtype": "int16",
        "shape": list(values.shape),
        "scale": [float(s) for s in scale],
        "data": base64.b64encode(codes.tobytes()).decode("ascii"),
    }


def decode(stored: dict[str, Any]) -> np.ndarray:
    """A quantized map back to float64 [nL, T, T] with NaN restored (what web/data.js does)."""
    if stored.get("dtype") != "int16":
        raise InputError(f"stored map dtype {stored.get('dtype')!r} is not supported; valid: int16")
    codes = np.frombuffer(base64.b64decode(stored["data"]), dtype="<i2").reshape(stored["shape"])
    scale = np.asarray(stored["scale"], dtype=np.float64)[:, None, None]
    return np.where(codes == NAN_CODE, np.nan, codes * scale)


def rounded(values: Any) -> Any:
    """Nested lists of floats with SIGNIFICANT digits and None for NaN / inf (JSON null)."""
    array = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(array) & (array != 0)
    exponent = np.floor(np.log10(np.abs(np.where(finite, array, 1.0))))
    factor = 10.0 ** (SIGNIFICANT - 1 - exponent)
    out = np.where(finite, np.round(array * factor) / factor, array).astype(object)
    out[~np.isfinite(array)] = None
    return out.tolist()


def map_key(route: str, baseline: str | tuple[str, str]) -> str:
    """"direct:<layer baseline>" or "composed:<att>+<mlp>"."""
    return f"direct:{baseline}" if route == "direct" else f"composed:{baseline[0]}+{baseline[1]}"


def word_axis(tokens: list[str], word_ids: list[int | None],
              unknown: dict[int, str] | None = None) -> tuple[list[str], list[int]]:
    """(display text per word, token -> word index); special tokens are words of their own.

    ``unknown`` (token index -> its characters, ``Explanation.unknown_text``) shows an unknown
    token inside its word as ``unknown_label``: "[UNK]→☃".
    """
    index: list[int] = []
    words: list[str] = []
    previous: int | None = None
    unknown = unknown or {}
    for k, (token, word) in enumerate(zip(tokens, word_ids)):  # once per sample, T entries
        piece = unknown_label(token, unknown[k]) if k in unknown else None
        if word is None or word != previous or not words:
            words.append(piece or _piece(token, first=True))
        else:
            words[-1] += piece or _piece(token, first=False)
        index.append(len(words) - 1)
        previous = word
    return words, index


def unknown_label(token: str, characters: str) -> str:
    """An unknown token with the characters it stands for: "[UNK]→☃" (web/tokenText.js draws the
    token axis the same way from the payload's ``unk_text``)."""
    return f"{token}→{characters}"


def _piece(token: str, first: bool) -> str:
    """A token's text inside its word: WordPiece '##', GPT-2 'Ġ' and SentencePiece '▁' removed."""
    if not first and token.startswith("##"):
        return token[2:]
    return token.lstrip("Ġ▁") or token


def to_payload(explanation: Explanation, sample: Sample, config: BuildConfig) -> dict[str, Any]:
    """The viewer's per-sample document: every map ``config`` offers, quantized, plus diagnostics."""
    exp = explanation
    unknown = exp.unknown_text()
    words, word_index = word_axis(exp.tokens, exp.word_ids, unknown)
    try:
        maps = _maps(exp, config)
        completeness = _completeness(exp, config)
        l2 = _l2(exp, config)
    except InputError as error:
        raise InputError(f"sample {sample.id}: {error}; compute it with these baselines and layers") from None
    return {
        "schema": SCHEMA,
        "id": sample.id,
        "text": sample.text,
        "label": sample.label,
        "source": sample.source,
        "tokens": list(exp.tokens),
        "word_ids": list(exp.word_ids),
        "words": words,
        "word_index": word_index,
        "layers": list(exp.layers),
        "n_heads": exp.n_heads,
        "orientation": ORIENTATION,
        "maps": maps,
        "completeness": completeness,
        "l2": l2,
        "warnings": list(exp.warnings),
        "provenance": provenance(exp),
    } | ({"unk_text": {str(k): text for k, text in unknown.items()}} if unknown else {})


def head_payloads(explanation: Explanation, config: BuildConfig) -> dict[str, dict[str, Any]]:
    """Per ATT baseline, the composed map's two factors per head, for the viewer's head view.

    One document per ATT baseline (``data/heads/<id>.<att>.json``, loaded only when the head view
    opens): ``att`` is z→u per (layer, head) quantized like the maps, stored as
    ``[nL·H, T_src, T_tgt]`` with one scale per (layer, head) so faint heads stay precise;
    ``mlp[<mlp baseline>]`` is u→z ``[nL, T_tgt, H]`` for the MLP baselines paired with it;
    ``completeness.att`` the per-head ratios ``[nL][H][T]``. Σ_h att[h, i, j] · mlp[j, h] is the
    composed map of the main payload.
    """
    exp = explanation
    out = {}
    for att in config.baselines["att"]:
        stacked = np.stack([exp.att(layer, att) for layer in exp.layers])  # [nL, H, T_src, T_tgt]
        n_layers, n_heads, size, _ = stacked.shape
        mlps = _unique_pairs(att, config.composed)
        out[att] = {
            "schema": SCHEMA,
            "att_baseline": att,
            "n_heads": n_heads,
            "layers": list(exp.layers),
            "att": quantize(stacked.reshape(n_layers * n_heads, size, size)),
            "mlp": {mlp: quantize(np.stack([exp.mlp(layer, mlp) for layer in exp.layers])) for mlp in mlps},  # [nL, T, H]
            "completeness": {"att": rounded([exp.completeness("att", layer, att) for layer in exp.layers])},
        }
    return out


def _unique_pairs(att: str, composed: tuple[tuple[str, str], ...]) -> list[str]:
    """The MLP baselines paired with ``att`` in ``composed``, in order, once each."""
    return list(dict.fromkeys(mlp for a, mlp in composed if a == att))


def provenance(exp: Explanation) -> dict[str, Any]:
    """Where the numbers came from: model (and its weights' identity), rule, versions."""
    return {
        "model": exp.model,
        "model_identity": exp.model_identity,
        "model_type": exp.model_type,
        "steps": exp.steps,
        "quadrature": exp.quadrature,
        "dtype": exp.dtype,
        "ligsite": exp.ligsite_version,
    }


def _maps(exp: Explanation, config: BuildConfig) -> dict[str, dict[str, Any]]:
    """Every map the viewer can show, by ``map_key``, each quantized over all layers."""
    maps = {}
    for baseline in config.layer_baselines:
        stacked = np.stack([exp.z2z(layer, baseline) for layer in exp.layers])  # [nL, T_src, T_tgt]
        maps[map_key("direct", baseline)] = quantize(stacked)
    for pair in config.composed:
        stacked = np.stack([exp.composed(layer, *pair) for layer in exp.layers])  # [nL, T_src, T_tgt]
        maps[map_key("composed", pair)] = quantize(stacked)
    return maps


def _completeness(exp: Explanation, config: BuildConfig) -> dict[str, Any]:
    """"<granularity>:<baseline>" -> [nL][T] (att: [nL][H][T]); ratio variants report ITB's."""
    out = {}
    for granularity, names in config.baselines.items():
        for name in names:
            out[f"{granularity}:{name}"] = rounded([exp.completeness(granularity, layer, name) for layer in exp.layers])
    return out


def _l2(exp: Explanation, config: BuildConfig) -> dict[str, Any]:
    """"<layer bl>|<att bl>+<mlp bl>" -> per-layer and pooled abs / rel / Pearson."""
    out = {}
    for baseline in config.layer_baselines:
        for att, mlp in config.composed:
            summary = exp.l2_summary(baseline, att, mlp)
            out[f"{baseline}|{att}+{mlp}"] = {
                name: rounded(summary[name]) for name in ("abs", "rel", "pearson")
            } | {"pooled": {name: rounded(value) for name, value in summary["pooled"].items()}}
    return out
