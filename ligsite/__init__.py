"""ligsite: Layer-wise Integrated Gradients, precomputed and published as a static site.

The public API is ``explain`` (``explain_many`` for several texts sharing IG calls),
``Explanation`` and ``describe_boundaries``. They are imported
lazily so that the site renderer (which never needs torch) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["explain", "explain_many", "Explanation", "describe_boundaries", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.api import describe_boundaries, explain, explain_many
    from ligsite.explanation import Explanation


def __getattr__(name: str) -> Any:
    if name in ("explain", "explain_many", "describe_boundaries"):
        from ligsite import api

        return getattr(api, name)
    if name == "Explanation":
        from ligsite.explanation import Explanation

        return Explanation
    raise AttributeError(f"module 'ligsite' has no attribute {name!r}")
