"""``describe_boundaries``: what a model offers, from its config alone or from loaded weights."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ligsite.models.hf import boundaries_of
from ligsite.models.loading import DEFAULT_MODEL, load, load_config
from ligsite.models.registry import adapter_class


def describe_boundaries(model: str = DEFAULT_MODEL, load_weights: bool = False, device: str = "cpu") -> dict[str, Any]:
    """Family, block count, sizes, granularities and every block's named boundaries.

    Without ``load_weights`` only the config is read (fast, no weights in memory); with it the
    model is loaded, which also checks the weights and adds their identity and dtype.
    """
    config = load_config(model)
    cls = adapter_class(config.model_type)
    dims = cls.dims(config)
    info: dict[str, Any] = {
        "model": model,
        "family": cls.family,
        "model_type": config.model_type,
        **asdict(dims),
        "causal": cls.is_causal(config),
        "granularities": list(cls.granularities),
    }
    if hasattr(cls, "attention_layout"):  # pre-norm families: GQA groups and windows per block
        info["attention"] = cls.attention_layout(config)
    if load_weights:
        adapter = load(model, device=device)
        info["identity"] = adapter.identity
        info["weights_dtype"] = str(next(adapter.model.parameters()).dtype).removeprefix("torch.")
        info["parameters"] = sum(p.numel() for p in adapter.model.parameters())
    info["boundaries"] = [
        asdict(b) for index in range(dims.n_layers) for b in boundaries_of(index, cls.granularities)
    ]
    return info
