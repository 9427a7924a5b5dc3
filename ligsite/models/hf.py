"""The part of every adapter that is the same for all Hugging Face families.

A family subclass says where its blocks and attention modules live and how to build a Block
from one layer module; this base class records the real forward, copies blocks into the
arithmetic dtype, names the boundaries and tokenizes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from ligsite.errors import InputError, ModelError
from ligsite.models.base import Block, Boundary, ForwardCache
from ligsite.models.hooks import recording
from ligsite.models.tokens import Tokenized, tokenize


# The oldest transformers whose modules the adapters read as they are: every attention module
# carries ``.scaling`` (BERT-likes from 5.0, GPT-2 from 5.4, Switch from 5.15). The model tests
# pass on 5.17.0 (the GPU machine's version) and 5.24.0; pyproject.toml states the same floor.
# A family may need more (``HFAdapter.transformers_floor``): Switch's router returns
# (one-hot dispatch, probability, logits) and honours expert capacity from 5.18 on.
TRANSFORMERS_FLOOR = "5.17"


def check_transformers(version: str | None = None, floor: str = TRANSFORMERS_FLOOR, who: str = "ligsite") -> None:
    """ModelError unless the installed transformers (or ``version``) is at least ``floor``."""
    from packaging.version import Version

    if version is None:
        import transformers

        version = transformers.__version__
    if Version(version) < Version(floor):
        raise ModelError(f"transformers {version} is older than {who} needs (>= {floor}): "
                         f"pip install 'transformers>={floor}'")


@dataclass(frozen=True)
class Dims:
    """Sizes read from a config alone (no weights)."""

    n_layers: int
    n_heads: int
    head_dim: int
    hidden_size: int
    max_positions: int


class HFAdapter:
    """A loaded HF model cut into blocks; subclasses name their family's modules."""

    family: ClassVar[str]
    granularities: ClassVar[tuple[str, ...]] = ("att", "mlp", "layer")
    position_offset: ClassVar[bool] = False  # RoBERTa-style positions start after padding_idx
    forward_kwargs: ClassVar[dict] = {}  # extra arguments of the recorded forward (e.g. use_cache=False)
    transformers_floor: ClassVar[str] = TRANSFORMERS_FLOOR  # a family whose modules need a newer one says so

    def __init__(self, model: nn.Module, tokenizer, name: str, identity: str, dtype: torch.dtype):
        check_transformers(floor=self.transformers_floor, who=f"ligsite's {model.config.model_type} adapter")
        self.model = model.eval().requires_grad_(False)
        self.config = model.config
        self.tokenizer = tokenizer
        self.name = name
        self.identity = identity
        self.dtype = dtype  # arithmetic dtype of the cache and of blocks by default
        self.model_type: str = self.config.model_type
        dims = self.dims(self.config)
        self.n_layers, self.n_heads, self.head_dim = dims.n_layers, dims.n_heads, dims.head_dim
        self.hidden_size, self.max_positions = dims.hidden_size, dims.max_positions
        self.causal: bool = self.is_causal(self.config)
        self._calls: dict[int, tuple[tuple, dict]] = {}  # last forward's layer arguments

    # --- what a family says about itself -------------------------------------------------
    @classmethod
    def dims(cls, config) -> Dims:
        """Block count and sizes from the config (``head_dim`` wins where a config has one)."""
        hidden, heads = int(config.hidden_size), int(config.num_attention_heads)
        head_dim = getattr(config, "head_dim", None) or hidden // heads
        max_pos = int(config.max_position_embeddings)
        if cls.position_offset:
            max_pos -= int(getattr(config, "pad_token_id", 1) or 0) + 1
        return Dims(int(config.num_hidden_layers), heads, int(head_dim), hidden, max_pos)

    @classmethod
    def is_causal(cls, config) -> bool:
        return bool(getattr(config, "is_decoder", False))

    def layers(self) -> Sequence[nn.Module]:
        """The block modules, in order."""
        raise NotImplementedError

    def attention_module(self, layer: nn.Module) -> nn.Module | None:
        """The module whose output is ``(context, probs)``; None for block-only families."""
        return None

    def make_block(self, module: nn.Module, index: int) -> Block:
        """Wrap one layer module (already in the wanted dtype and device) as a Block."""
        raise NotImplementedError

    # --- shared behaviour ----------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, text: str) -> Tokenized:
        """input_ids [T], token strings and word ids; rejects empty or too-long text."""
        return tokenize(self.tokenizer, text, self.max_positions, model=self.name)

    def forward(self, input_ids: Tensor) -> ForwardCache:
        """One no-grad forward; every block's input, own output and attention, in ``self.dtype``."""
        ids = input_ids.reshape(1, -1).to(self.device)  # [1, T]
        layers = list(self.layers())
        attention = [self.attention_module(layer) for layer in layers]
        with torch.no_grad(), recording(layers, attention) as rec:
            self.model(input_ids=ids, **self.forward_kwargs)
        self._calls = rec.calls
        n = len(layers)

        def cast(t: Tensor) -> Tensor:
            return t[0].to(self.dtype)  # [1, ...] -> [...]

        return ForwardCache(
            input_ids=ids[0],
            z=[cast(rec.z[i]) for i in range(n)],  # L x [T, D]
            z_next=[cast(rec.z_next[i]) for i in range(n)],  # L x [T, D]
            attention=[cast(rec.attention[i]) if i in rec.attention else None for i in range(n)],  # L x [H, T, T]
        )

    def recorded_call(self, index: int, needs: str) -> tuple[tuple, dict]:
        """The (args, kwargs) layer ``index`` was called with in the last ``forward``; a block that
        takes ``needs`` from them cannot be made before one (InputError)."""
        if index not in self._calls:
            raise InputError(f"block {index} of {self.name} takes {needs} from a real forward: call forward() first")
        return self._calls[index]

    def block(self, index: int, dtype: torch.dtype | None = None,
              device: torch.device | str | None = None) -> Block:
        """Block ``index`` with weights in ``dtype`` on ``device`` (a copy when they differ)."""
        if not 0 <= index < self.n_layers:
            raise InputError(f"layer {index} is out of range: {self.name} has layers 0..{self.n_layers - 1}")
        dtype = dtype or self.dtype
        device = torch.device(device) if device is not None else self.device
        module = self.layers()[index]
        weight = next(module.parameters())
        if weight.dtype != dtype or weight.device != device:
            module = copy.deepcopy(module).to(device=device, dtype=dtype).requires_grad_(False)
        return self.make_block(module, index)

    def routing_record(self, cache: ForwardCache, layers: Sequence[int]) -> dict | None:
        """How a mixture-of-experts model routed ``cache``'s tokens at ``layers`` (Explanation's
        ``routing``): the rule and each token's expert per layer; None for dense models."""
        if cache.experts is None:
            return None
        rule = getattr(self, "routing", "top-1 expert per token held at the real input's choice")
        experts = [None if cache.experts[l] is None else [int(e) for e in cache.experts[l].tolist()] for l in layers]
        return {"rule": rule, "experts": experts}

    def boundaries(self, index: int) -> list[Boundary]:
        """TransformerLens-style names of block ``index``'s boundaries."""
        return boundaries_of(index, self.granularities)


def boundaries_of(index: int, granularities: Sequence[str]) -> list[Boundary]:
    """Boundary names and shapes of one block; block-only families expose z_in and z_out."""
    p = f"blocks.{index}"
    z_in = Boundary(f"{p}.z_in", "[T, D]", "block input z(l) (HF hidden_states[l])")
    z_out = Boundary(f"{p}.z_out", "[T, D]", "block output z(l+1), the block's own (no final norm)")
    if "att" not in granularities:
        return [z_in, z_out]
    return [
        z_in,
        Boundary(f"{p}.att.q", "[T, H, d]", "queries (per head)"),
        Boundary(f"{p}.att.k", "[T, H, d]", "keys (per head)"),
        Boundary(f"{p}.att.v", "[T, H, d]", "values (per head)"),
        Boundary(f"{p}.att.pattern", "[H, T_query, T_key]", "attention probabilities"),
        Boundary(f"{p}.att.u[h]", "[T, H, d]", "head h's context before the output projection: ATT output, MLP input"),
        Boundary(f"{p}.mlp.out", "[T, D]", "MLP_j(u_j): the rest of the block with residual z_j fixed (= z_out)"),
        z_out,
    ]
