"""What the viewer should draw, computed independently in Python from a payload.

The viewer shows rows = targets, columns = sources; payload maps are [layer][source][target].
``checksum`` re-implements web/data.js's FNV-1a over float32 bits, plainly, as a reference.
"""

from __future__ import annotations

import numpy as np

from ligsite.payload import decode

CANONICAL_NAN = 0x7FC00000


def display_matrix(payload: dict, key: str, position: int) -> np.ndarray:
    """[target, source] float32 values of one stored layer, as the viewer decodes them."""
    return decode(payload["maps"][key])[position].T.astype(np.float32)


def checksum(matrices: list[np.ndarray]) -> str:
    """FNV-1a 32-bit over the float32 bit patterns, row-major, NaN canonical."""
    value = 0x811C9DC5
    for matrix in matrices:
        floats = np.ascontiguousarray(matrix, dtype=np.float32).ravel()
        words = floats.view(np.uint32).copy()
        words[np.isnan(floats)] = CANONICAL_NAN
        for word in words.tolist():
            value = ((value ^ word) * 16777619) & 0xFFFFFFFF
    return f"{value:08x}"


def expected_checksum(payload: dict, key: str, layer: int) -> str:
    return checksum([display_matrix(payload, key, payload["layers"].index(layer))])
