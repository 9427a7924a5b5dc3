"""A plain (non-editable) ``pip install .`` must ship every template and web asset: the site is
rendered from ``importlib.resources.files("ligsite.web")``, which only holds what pyproject.toml
declares as package data. Checked against the files on disk so a new asset cannot be forgotten."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = {"__init__.py", ".keep"}  # package markers, not assets


def setuptools_table() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_asset_folder_is_a_declared_package() -> None:
    table = setuptools_table()
    folders = {str(path.relative_to(ROOT)) for top in ("web", "templates")
               for path in [ROOT / top, *(ROOT / top).rglob("*")] if path.is_dir() and path.name != "__pycache__"}
    declared = set(table["package-dir"].values())
    assert folders == declared, f"folders not shipped as packages: {sorted(folders - declared)}"
    assert set(table["package-dir"]) <= set(table["packages"])


def test_every_asset_file_matches_its_packages_package_data() -> None:
    table = setuptools_table()
    for package, folder in table["package-dir"].items():
        patterns = table["package-data"][package]
        files = [p.name for p in (ROOT / folder).iterdir() if p.is_file() and p.name not in NOT_SHIPPED]
        unshipped = [name for name in files if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)]
        assert files and not unshipped, f"{folder}: {unshipped} would be missing after pip install ."


def test_the_viewer_template_and_d3_are_among_the_shipped_files() -> None:
    from importlib.resources import files

    assert files("ligsite.templates").joinpath("viewer.html.j2").is_file()
    assert files("ligsite.web").joinpath("main.js").is_file()
    assert files("ligsite.web.vendor").joinpath("d3.min.js").is_file()
    assert files("ligsite.web.vendor").joinpath("LICENSE-d3.txt").is_file()
