"""The one-way import rule of docs/architecture.md, checked on the source and in a fresh process.

The math (``ligsite/lig``) imports no adapter except the ``Block`` protocol, no file I/O and no
CLI; the site side (samples, payload, site, bundle, serve, explanation, pipeline, figures) never
loads torch, so rendering a site stays light.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

LIG = Path(__file__).resolve().parents[1] / "ligsite" / "lig"
LIG_MAY_IMPORT = {"ligsite.errors", "ligsite.models.base"}  # besides ligsite.lig itself
NOT_IN_MATH = {"os", "io", "pathlib", "shutil", "tempfile", "json", "orjson", "tomllib", "typer",
               "rich", "transformers"}
SITE_MODULES = ("samples", "payload", "site", "bundle", "serve", "explanation", "pipeline", "executors", "cache_admin", "keys", "models.identity",
                "config", "cache", "precompute", "figures_spec", "figures")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (top level or inside functions), as dotted names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_math_imports_only_the_block_protocol_and_errors_from_ligsite() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in sorted(LIG.glob("*.py"))
        for name in imported_modules(path)
        if name.startswith("ligsite") and not name.startswith("ligsite.lig") and name not in LIG_MAY_IMPORT
    }
    assert offending == set()


def test_math_does_no_file_io_and_knows_no_cli() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in sorted(LIG.glob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in NOT_IN_MATH
    }
    calls_open = [path.name for path in LIG.glob("*.py") if "open(" in path.read_text(encoding="utf-8")]
    assert offending == set() and calls_open == []


def test_site_modules_never_load_torch() -> None:
    code = (f"import sys\nimport {', '.join('ligsite.' + name for name in SITE_MODULES)}\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
