"""A content-keyed cache of Explanation JSON, so a rebuild recomputes only what changed.

The key hashes everything that decides the numbers: the model's identity (weights, not its
name), the text, steps, quadrature, baselines, layers, dtype and the engine version. It does
not hash the sample id, the device or the site options: renaming a sample or retitling the
site reuses the cache. Writes go to a temporary file that is renamed into place, so Ctrl-C
never leaves half an entry; an entry that cannot be read back is recomputed with a warning.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
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


def inconsistency(explanation: Explanation) -> str:
    """Why a loaded entry cannot be what ``put`` stored (wrong types or shapes), or "" if none.

    ``Explanation.load`` trusts its input; a damaged entry must be recomputed, not rendered.
    """
    exp = explanation
    n_tokens, n_layers = len(exp.tokens) if isinstance(exp.tokens, list) else -1, len(exp.layers or [])
    checks = {
        "text or tokens are not strings": isinstance(exp.text, str) and _list_of(exp.tokens, str),
        "word_ids do not match the tokens": _list_of(exp.word_ids, (int, type(None))) and len(exp.word_ids) == n_tokens,
        "layers or targets are not lists of indices": n_layers > 0 and _list_of(exp.layers, int) and _list_of(exp.targets, int),
        "baselines are not lists of names": isinstance(exp.baselines, dict)
        and all(_list_of(names, str) for names in exp.baselines.values()),
        "warnings are not a list of lines": _list_of(exp.warnings, str),
        "self_probs do not match the layers": exp.self_probs is None
        or (exp.self_probs.ndim == 3 and exp.self_probs.shape[0] == n_layers),
        "no runs": bool(exp.runs),
        "runs do not match the layers and tokens": all(
            len(shape) >= 2 and shape[0] == n_layers and n_tokens in shape[1:]
            for shape in (run.scores.shape for run in exp.runs.values())
        ),
    }
    problems = [problem for problem, ok in checks.items() if not ok]
    return "; ".join(problems) if problems else nonfinite(exp)


def nonfinite(explanation: Explanation) -> str:
    """Where a run holds Inf, or NaN at a computed target ("" when none): never a valid result.

    NaN is the marker of a target not computed (steps 0) and of an undefined ratio (L(x) = 0),
    so only the scores and L(x) of computed targets must be finite.
    """
    exp = explanation
    for key, run in exp.runs.items():
        computed = np.asarray(run.steps) > 0  # [nL, T]
        for name in ("scores", "value"):
            values = np.asarray(getattr(run, name), dtype=np.float64)
            if np.isinf(values).any():
                return f"{key} {name} hold Inf"
            at_targets = np.moveaxis(values, _target_axis(key, name, values.ndim), -1)  # [nL, ..., T]
            mask = np.broadcast_to(computed.reshape(computed.shape[0], *(1,) * (at_targets.ndim - 2), -1), at_targets.shape)
            if np.isnan(at_targets[mask]).any():
                layer = exp.layers[int(np.argwhere(np.isnan(at_targets) & mask)[0][0])]
                return f"{key} {name} hold NaN at computed targets of layer {layer}"
    return ""


def _target_axis(key: str, name: str, ndim: int) -> int:
    """The target axis of a stored array (docs/explanation-format.md): mlp scores [nL, T, H]."""
    return 1 if key.startswith("mlp:") and name == "scores" else ndim - 1


def _list_of(value: object, kinds: type | tuple[type, ...]) -> bool:
    return isinstance(value, list) and all(isinstance(item, kinds) and not isinstance(item, bool) for item in value)


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
            problem = inconsistency(explanation)
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, LigsiteError) as error:
            problem = f"{type(error).__name__}: {error}"
        if problem:
            warnings.warn(f"cache entry {path} is unreadable ({problem}); recomputing it", stacklevel=2)
            return None
        if text is not None and explanation.text != text:
            warnings.warn(f"cache entry {path} holds another text; recomputing it", stacklevel=2)
            return None
        return explanation

    def check(self) -> None:
        """Raise CacheError when ``root`` cannot be a cache folder (a file, or under a file)."""
        for folder in (self.root, *self.root.parents):
            if folder.exists():
                if not folder.is_dir():
                    what = "is a file" if folder == self.root else f"is under {folder}, which is a file"
                    raise CacheError(f"cache folder {self.root} {what}; give --cache-dir (or cache_dir in "
                                     f"ligsite.toml) a folder, e.g. .ligsite-cache")
                return

    def put(self, key: str, explanation: Explanation) -> Path:
        """Store ``explanation`` under ``key`` atomically: complete or not at all."""
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            explanation.save(path)
        except OSError as error:
            raise CacheError(f"cannot write cache entry {path}: {error.strerror or error}") from None
        return path
