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


def css_rgb(colour: str) -> tuple[float, float, float]:
    """``#rrggbb`` or ``rgb(r, g, b)`` / ``rgba(...)`` as (r, g, b) in 0..255."""
    if colour.startswith("#"):
        return tuple(float(int(colour[k:k + 2], 16)) for k in (1, 3, 5))
    return tuple(float(v) for v in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3])


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of a CSS colour, computed here independently of the viewer."""
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in css_rgb(colour))]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two CSS colours (1 to 21)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
