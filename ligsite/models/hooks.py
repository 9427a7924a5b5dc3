"""Hooks that record one real forward, registered in a ``with`` block and always removed.

Nothing is left on the model after a call: every handle is removed in ``finally``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn


def first_tensor(output: Any) -> Tensor:
    """A module's main output: the tensor itself or the first element of a tuple."""
    return output[0] if isinstance(output, (tuple, list)) else output


def hidden_states_arg(args: tuple, kwargs: dict) -> Tensor:
    """The hidden states a layer was called with (positional or keyword)."""
    return args[0] if args else kwargs["hidden_states"]


@dataclass
class Recording:
    """What one forward left at each block (batch axis kept)."""

    z: dict[int, Tensor] = field(default_factory=dict)  # l -> [B, T, D]
    z_next: dict[int, Tensor] = field(default_factory=dict)  # l -> [B, T, D]
    attention: dict[int, Tensor] = field(default_factory=dict)  # l -> [B, H, T, T]
    calls: dict[int, tuple[tuple, dict]] = field(default_factory=dict)  # l -> (args, kwargs)


@contextmanager
def recording(
    layers: Sequence[nn.Module], attention: Sequence[nn.Module | None] = ()
) -> Iterator[Recording]:
    """Record each layer's input, output and call arguments, and each attention's probabilities.

    ``attention[l]`` is a module whose output is ``(context, probs)`` (HF eager attention).
    """
    rec = Recording()
    handles = []
    try:
        for index, layer in enumerate(layers):
            handles.append(layer.register_forward_pre_hook(_pre(rec, index), with_kwargs=True))
            handles.append(layer.register_forward_hook(_post(rec, index)))
        for index, module in enumerate(attention):
            if module is not None:
                handles.append(module.register_forward_hook(_probs(rec, index)))
        yield rec
    finally:
        for handle in handles:
            handle.remove()


def _pre(rec: Recording, index: int):
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        rec.z[index] = hidden_states_arg(args, kwargs).detach()
        rec.calls[index] = (args, dict(kwargs))

    return hook


def _post(rec: Recording, index: int):
    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        rec.z_next[index] = first_tensor(output).detach()

    return hook


def _probs(rec: Recording, index: int):
    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        if isinstance(output, (tuple, list)) and len(output) > 1 and output[1] is not None:
            rec.attention[index] = output[1].detach()

    return hook
