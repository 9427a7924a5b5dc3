"""The ``ligsite`` command line: thin wrappers that parse options, call one function, print.

Each command mirrors a public function; every ``LigsiteError`` becomes one red line on stderr
and exit status 1, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import typer

from ligsite.errors import LigsiteError

app = typer.Typer(
    name="ligsite",
    help="Layer-wise Integrated Gradients for transformers, published as a static site.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a LigsiteError raised by ``command`` into one red line and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LigsiteError as error:
            typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.secho("interrupted: finished samples stay cached", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(130) from None

    return wrapper


# ---- engine commands (explain, boundaries) ----------------------------------------------------


# ---- site commands (build, compute, render) ---------------------------------------------------


# ---- publishing commands (serve, figures) -----------------------------------------------------


def main() -> None:  # pragma: no cover - console entry point
    app(sys.argv[1:])
