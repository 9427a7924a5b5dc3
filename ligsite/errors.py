"""The one exception hierarchy of ligsite.

Every error a user can cause is a ``LigsiteError`` whose message names the bad value, where it
came from, and the valid choices. The CLI prints ``str(error)`` as one red line and exits 1;
nothing else in the package catches broad exceptions.

    LigsiteError
    ├── ModelError        unknown family, model not found offline, weights unusable
    ├── InputError        text / layer / target / baseline / granularity the engine rejects
    ├── NumericalError    NaN or Inf in the forward pass or in computed attributions
    ├── SamplesError      a SAMPLES file that cannot be read or parsed
    ├── CacheError        a cache entry that cannot be written or read back
    ├── ComputeFailed     some samples of a build could not be explained (the rest are cached)
    └── SiteError         rendering, assets, figures
"""

from __future__ import annotations


class LigsiteError(Exception):
    """Base class: a user-facing error with a one-line message."""


class ModelError(LigsiteError):
    """The model cannot be loaded or its family is not supported."""


class InputError(LigsiteError):
    """An argument to the engine is outside what the method defines."""


class NumericalError(LigsiteError):
    """The model gives non-finite values (NaN / Inf) for this input: the result would be wrong."""


class SamplesError(LigsiteError):
    """A SAMPLES file is missing, empty, not UTF-8 text or malformed."""


class CacheError(LigsiteError):
    """A precompute cache entry cannot be stored or restored."""


class ComputeFailed(LigsiteError):
    """Some samples could not be explained; the others are cached, each failure is reported."""


class SiteError(LigsiteError):
    """The site or a figure cannot be rendered."""
