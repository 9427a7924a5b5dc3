"""A content-keyed cache of Explanation JSON, so a rebuild recomputes only what changed.

The key hashes everything that decides the numbers: the model's identity (weights, not its
name), the text, steps, quadrature, baselines, layers, dtype and the engine version. It does
not hash the sample id, the device or the site options: renaming a sample or retitling the
site reuses the cache. Writes go to a temporary file that is renamed into place, so Ctrl-C
never leaves half an entry; an entry that cannot be read back is recomputed with a warning.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

import ligsite
from ligsite.config import BuildConfig
from ligsite.errors import CacheError, LigsiteError

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation

# Bump when a change to the engine changes its numbers or the Explanation schema, so that old
# cache entries are not served as if they came from the new engine.
ENGINE_VERSION = 1


def cache_key(model_identity: str, text: str, config: BuildConfig) -> str:
    """sha256 hex of everything that decides the Explanation of ``text`` under ``config``."""
    content = {
        "model": model_identity,
        "text": text,
        "steps": config.steps,
        "quadrature": config.quadrature,
        "baselines": {route: sorted(names) for route, names in config.baselines.items()},
        "layers": sorted(config.layers) if config.layers is not None else None,
        "dtype": config.dtype,
        "ligsite": ligsite.__version__,
        "engine": ENGINE_VERSION,
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class ExplanationCache:
    """Explanation JSON files in ``root``, one per key (``<root>/<key[:2]>/<key>.json``)."""

    root: Path

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str, text: str | None = None) -> Explanation | None:
        """The cached Explanation, or None if absent or unreadable (then with a warning)."""
        path = self.path(key)
        if not path.is_file():
            return None
        from ligsite.explanation import Explanation

        try:
            explanation = Explanation.load(path)
        except (OSError, ValueError, KeyError, TypeError, IndexError, LigsiteError) as error:
            warnings.warn(f"cache entry {path} is unreadable ({error}); recomputing it", stacklevel=2)
            return None
        if text is not None and getattr(explanation, "text", text) != text:
            warnings.warn(f"cache entry {path} holds another text; recomputing it", stacklevel=2)
            return None
        return explanation

    def put(self, key: str, explanation: Explanation) -> Path:
        """Store ``explanation`` under ``key`` atomically: complete or not at all."""
        path = self.path(key)
        temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            explanation.save(temporary)
            os.replace(temporary, path)
        except OSError as error:
            raise CacheError(f"cannot write cache entry {path}: {error.strerror or error}") from None
        finally:
            temporary.unlink(missing_ok=True)
        return path
