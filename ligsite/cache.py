"""A content-keyed cache of Explanation JSON, so a rebuild recomputes only what changed.

The key hashes everything that decides the numbers: the model's identity (weights, not its
name), the text, steps, quadrature, baselines, layers, dtype and the engine version. It does
not hash the sample id, the device or the site options: renaming a sample or retitling the
site reuses the cache.

An entry is the Explanation's JSON document with one more member first, ``"cache"``: the key,
the fields it was made from (everything but the text), the sha256 of the document's bytes,
and when and on which host it was written. So ``ligsite cache ls / verify / prune`` can say what
an entry is without the config that made it, and a truncated or altered file is caught by its
checksum and recomputed. Writes go to a temporary file unique to the host and process and are
renamed into place, so Ctrl-C, SIGKILL or two builds writing the same key at once never leave
half an entry: the last complete one wins, and both are the same numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson

import ligsite
from ligsite import diskio
from ligsite.config import BuildConfig
from ligsite.errors import CacheError, LigsiteError

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation

# Bump when a change to the engine changes its numbers or the Explanation schema, so that old
# cache entries are not served as if they came from the new engine.
ENGINE_VERSION = 2  # 2: pre-norm families (log-placed nodes, decoders, ModernBERT at every granularity)
ENTRY_FORMAT = 1  # the "cache" record's layout


def key_fields(model_identity: str, config: BuildConfig) -> dict:
    """Everything but the text that decides an Explanation under ``config`` (JSON values)."""
    return {
        "model": model_identity,
        "steps": config.steps,
        "quadrature": config.quadrature,
        "baselines": {route: sorted(names) for route, names in config.baselines.items()},
        "layers": sorted(config.layers) if config.layers is not None else None,
        "dtype": config.dtype,
        "weights_dtype": config.weights_dtype,  # "auto" means the device's choice: pin it to share a cache across devices
        "ligsite": ligsite.__version__,
        "engine": ENGINE_VERSION,
    }


def key_of(fields: dict, text: str) -> str:
    """sha256 hex of ``fields`` and ``text``: the entry's file name (and a stable shard order)."""
    return hashlib.sha256(orjson.dumps({**fields, "text": text}, option=orjson.OPT_SORT_KEYS)).hexdigest()


def cache_key(model_identity: str, text: str, config: BuildConfig) -> str:
    """sha256 hex of everything that decides the Explanation of ``text`` under ``config``."""
    return key_of(key_fields(model_identity, config), text)


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


class Damaged(Exception):
    """An entry that cannot be what ``put`` stored; the message says why (internal to the cache)."""


@dataclass(frozen=True)
class Entry:
    """One cache file read back: its record (None for entries written before records) and data."""

    path: Path
    record: dict | None
    explanation: Explanation


@dataclass(frozen=True)
class ExplanationCache:
    """Explanation JSON files in ``root``, one per key (``<root>/<key[:2]>/<key>.json``).

    ``<root>/memo/`` holds small facts about models (weight hashes, routes) that let a cached
    rebuild form its keys without loading torch; it is not part of any entry.
    """

    root: Path

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    @property
    def memo_dir(self) -> Path:
        return self.root / "memo"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str, text: str | None = None) -> Explanation | None:
        """The cached Explanation, or None if absent or damaged (then with a warning)."""
        path = self.path(key)
        try:
            entry = read_entry(path, key)
        except FileNotFoundError:
            return None
        except Damaged as problem:
            warnings.warn(f"cache entry {path} is unreadable ({problem}); recomputing it", stacklevel=2)
            return None
        if text is not None and entry.explanation.text != text:
            warnings.warn(f"cache entry {path} holds another text; recomputing it", stacklevel=2)
            return None
        return entry.explanation

    def check(self) -> None:
        """Raise CacheError when ``root`` cannot be a cache folder (a file, or under a file)."""
        for folder in (self.root, *self.root.parents):
            if folder.exists():
                if not folder.is_dir():
                    what = "is a file" if folder == self.root else f"is under {folder}, which is a file"
                    raise CacheError(f"cache folder {self.root} {what}; give --cache-dir (or cache_dir in "
                                     f"ligsite.toml) a folder, e.g. .ligsite-cache")
                return

    def put(self, key: str, explanation: Explanation, fields: dict | None = None) -> Path:
        """Store ``explanation`` under ``key`` atomically (complete or not at all), with its record.

        ``fields`` are the key's fields (``key_fields``); two processes storing one key at once
        both succeed, and the file is one of their complete entries.
        """
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            diskio.replace_atomically(path, entry_bytes(key, explanation, fields))
        except OSError as error:
            raise CacheError(f"cannot write cache entry {path}: {error.strerror or error}") from None
        return path


def entry_bytes(key: str, explanation: Explanation, fields: dict | None) -> bytes:
    """The file: ``{"cache": record, **explanation.to_dict()}``, record first (see the module doc)."""
    body = orjson.dumps(explanation.to_dict())
    record = {"format": ENTRY_FORMAT, "key": key, "fields": fields, "sha256": hashlib.sha256(body).hexdigest(),
              "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": socket.gethostname()}
    return b'{"cache":' + orjson.dumps(record) + b"," + body[1:]


def read_entry(path: Path, key: str | None = None) -> Entry:
    """Read and check one entry; FileNotFoundError when absent, ``Damaged`` naming what is wrong.

    Checked: JSON, the record's key (against ``key`` and the file name), the checksum of the
    document (orjson writes the same bytes for the numbers it reads, so a re-dump must hash the
    same), the key recomputed from the recorded fields and the text, and the shapes.
    """
    from ligsite.explanation import Explanation

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise Damaged(f"cannot read it: {error.strerror or error}") from None
    try:
        doc = orjson.loads(data)
        record = doc.pop("cache", None) if isinstance(doc, dict) else None
        if record is not None:
            _check_record(record, doc, key or path.stem)
        explanation = Explanation.from_dict(doc)
        problem = inconsistency(explanation)
    except Damaged:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, LigsiteError) as error:
        raise Damaged(f"{type(error).__name__}: {error}") from None
    if problem:
        raise Damaged(problem)
    if record is not None and record.get("fields") is not None and key_of(record["fields"], explanation.text) != record["key"]:
        raise Damaged("its recorded fields and text do not give its key")
    return Entry(path, record, explanation)


def _check_record(record: object, doc: dict, key: str) -> None:
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str):
        raise Damaged("its cache record is not an object with a sha256")
    if record.get("key") != key:
        raise Damaged(f"it records the key {str(record.get('key'))[:12]}…, not its own")
    if hashlib.sha256(orjson.dumps(doc)).hexdigest() != record["sha256"]:
        raise Damaged("checksum mismatch: the file was altered or cut short")
