"""What a cache key needs, without torch: the model's identity and the routes its family offers.

Both come from files: config.json, the weight files' sha256 (``ligsite.models.identity``) and the
family table's answer for the model type. The table imports every adapter, and so torch; its
answer and the weight hashes are remembered in the cache's ``memo/`` folder, so a fully cached
``build``, ``render`` or ``analyze`` forms its keys without loading a framework.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from ligsite.cache import ExplanationCache
from ligsite.config import LAYER_BASELINES, BuildConfig
from ligsite.errors import InputError


def fit_to_model(config: BuildConfig) -> BuildConfig:
    """``config`` without composed maps when the model's family is block-only (layer route only).

    Reads the model's config.json alone (no weights, no torch once the routes are remembered).
    """
    offered = offered_granularities(config)
    if config.composed and not {"att", "mlp"} <= set(offered):
        if not config.layer_baselines:
            raise InputError(
                f"model {config.model} offers only the direct (layer) route; set baselines.layer "
                f"in ligsite.toml (valid: {', '.join(LAYER_BASELINES)})"
            )
        return replace(config, composed=())
    return config


def offered_granularities(config: BuildConfig) -> tuple[str, ...]:
    """The routes the model's family offers: from the family table, remembered in the cache.

    The table (``ligsite.models.registry``) imports every adapter and so torch; its answer per
    model type is kept in ``<cache>/memo/`` under a stamp of ligsite's model code, so a cached
    rebuild reads it from there and any change to that code asks the table again.
    """
    from ligsite.models.identity import model_type

    kind = model_type(config.model)
    memo_dir = _memo_dir(config)
    memo = None if memo_dir is None else memo_dir / f"routes-{kind}-{_models_stamp()}.memo"
    if memo is not None and memo.is_file():
        saved = memo.read_text(encoding="utf-8").split()
        if saved and set(saved) <= {"att", "mlp", "layer"}:
            return tuple(saved)
    from ligsite.models.registry import adapter_class

    offered = tuple(adapter_class(kind).granularities)
    if memo is not None:
        _remember(memo, " ".join(offered))
    return offered


def _models_stamp() -> str:
    """A hash of ligsite's version and its model code (the family table and the adapters)."""
    import ligsite

    folder = Path(__file__).parent / "models"
    digest = hashlib.sha256(ligsite.__version__.encode())
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _memo_dir(config: BuildConfig) -> Path | None:
    """Where model facts are remembered: the cache's memo folder, if the cache exists."""
    cache = ExplanationCache(config.cache_dir)
    return cache.memo_dir if cache.root.is_dir() else None


def _remember(path: Path, text: str) -> None:
    from ligsite.diskio import replace_atomically

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, text.encode())
    except OSError:
        pass  # a read-only cache only costs a slower start next time


def model_identity(config: BuildConfig) -> str:
    """The cache's name for the configured model's weights (no weights loaded, no torch)."""
    from ligsite.models.identity import model_identity as identity

    return identity(config.model, memo_dir=_memo_dir(config))
