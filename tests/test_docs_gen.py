"""The docs cannot drift from the code: docs/cli.md is generated from the typer app, and every
`ligsite <command>` that the README or docs/ mention is a real command."""

from __future__ import annotations

import inspect

import re
from pathlib import Path

import typer

from ligsite.cli import app
from ligsite.docs_gen import DOC, render

ROOT = Path(__file__).resolve().parents[1]


def commands() -> set[str]:
    group = typer.main.get_command(app)
    return set(group.list_commands(group.context_class(group, info_name="ligsite")))


def test_cli_reference_is_regenerated_from_the_app() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "docs/cli.md is stale: run python -m ligsite.docs_gen"


def test_cli_reference_lists_every_command_and_option() -> None:
    text = render()
    assert {"serve", "figures"} <= commands()
    for name in commands():
        assert f"\n## ligsite {name}\n" in text
    assert "| `--port` | int | `8000` |" in text and "| `--out`, `-o` | path | `figures` |" in text


def test_cli_reference_lists_the_cache_subcommands() -> None:
    text = render()
    for name in ("ls", "verify", "prune"):
        assert f"\n## ligsite cache {name}\n" in text and f"(#ligsite-cache-{name})" in text
    assert "ligsite cache prune [OPTIONS]" in text and "| `--dry-run` | flag |" in text


def mentioned_commands(text: str) -> set[str]:
    """``ligsite <word>`` in inline code, and commands run in fenced code blocks (also after &&)."""
    words = set(re.findall(r"`ligsite ([a-z][a-z-]*)", text))
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        words |= set(re.findall(r"(?:^|&&)\s*ligsite ([a-z][a-z-]*)", block, flags=re.M))
    return words


def test_docs_mention_only_real_commands() -> None:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    unknown = sorted((path.name, word) for path in files
                     for word in mentioned_commands(path.read_text(encoding="utf-8")) if word not in commands())
    assert not unknown, f"docs mention commands the CLI lacks: {unknown}"


def test_command_mentions_are_found_in_inline_code_and_code_blocks() -> None:
    text = "ligsite writes files; run `ligsite serve site/`.\n```bash\nbash .ci/setup && ligsite build x\nligsite figures y\n```\n"
    assert mentioned_commands(text) == {"serve", "build", "figures"}


def test_readme_family_table_is_the_registry() -> None:
    from ligsite.models.registry import FAMILIES

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {row.split("|")[1].strip(): set(re.findall(r"`([a-z0-9_-]+)`", row.split("|")[2]))
            for row in text.splitlines() if row.startswith("| att, mlp") or row.startswith("| layer only")}
    full = {t for t, adapter in FAMILIES.items() if "att" in adapter.granularities}
    assert rows == {"att, mlp, layer, composed": full,
                    "layer only (through the block's own forward)": set(FAMILIES) - full}


def test_method_doc_states_the_quadrature_the_code_implements() -> None:
    """docs/method.md must give the graded rule's real power, the default node count and the cap."""
    from ligsite.api import explain
    from ligsite.config import BuildConfig
    from ligsite.lig.completeness import AUTO_CAP, AUTO_START
    from ligsite.lig.quadrature import GRADING_POWER, gauss_legendre, gauss_legendre_graded

    text = (ROOT / "docs" / "method.md").read_text(encoding="utf-8")
    superscript = {2: "²", 3: "³"}[GRADING_POWER]
    assert f"`α = t{superscript}`" in text and f"`GRADING_POWER = {GRADING_POWER}`" in text
    t, w = gauss_legendre(8)
    nodes, weights = gauss_legendre_graded(8)
    assert (nodes == t**GRADING_POWER).all() and abs(weights.sum() - 1.0) < 1e-12
    assert BuildConfig().quadrature == "gauss-legendre" and "`gauss-legendre` (default)" in text
    explain_steps = inspect.signature(explain).parameters["steps"].default
    assert f"`steps` is `n`: {explain_steps} by default in `explain`" in text
    assert f'`"{BuildConfig().steps}"` by default in `ligsite build`' in text
    assert f"starts at {AUTO_START} and doubles" in text and f"up to {AUTO_CAP} nodes" in text
