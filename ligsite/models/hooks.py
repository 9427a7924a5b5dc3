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
        for module, indices in _occurrences(layers).values():
            order = _CallOrder(indices)
            handles.append(module.register_forward_pre_hook(_pre(rec, order), with_kwargs=True))
            handles.append(module.register_forward_hook(_post(rec, order)))
        for module, indices in _occurrences(attention).values():
            handles.append(module.register_forward_hook(_probs(rec, _CallOrder(indices))))
        yield rec
    finally:
        for handle in handles:
            handle.remove()


class _CallOrder:
    """Which block a module's n-th call is: a module shared by several blocks (ALBERT's one
    layer) is called once per block, in order, so its k-th call belongs to its k-th index."""

    def __init__(self, indices: list[int]):
        self.indices, self.calls = indices, 0

    def current(self) -> int:
        return self.indices[min(self.calls, len(self.indices) - 1)]

    def advance(self) -> int:
        index = self.current()
        self.calls += 1
        return index


def _occurrences(modules: Sequence[nn.Module | None]) -> dict[int, tuple[nn.Module, list[int]]]:
    """id(module) -> (module, the block indices it occupies), None entries skipped."""
    found: dict[int, tuple[nn.Module, list[int]]] = {}
    for index, module in enumerate(modules):
        if module is not None:
            found.setdefault(id(module), (module, []))[1].append(index)
    return found


def _pre(rec: Recording, order: _CallOrder):
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        index = order.current()
        rec.z[index] = hidden_states_arg(args, kwargs).detach()
        rec.calls[index] = (args, dict(kwargs))

    return hook


def _post(rec: Recording, order: _CallOrder):
    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        rec.z_next[order.advance()] = first_tensor(output).detach()

    return hook


def _probs(rec: Recording, order: _CallOrder):
    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        index = order.advance()
        if isinstance(output, (tuple, list)) and len(output) > 1 and output[1] is not None:
            rec.attention[index] = output[1].detach()

    return hook
