"""Browser and site fixtures for the viewer tests: one Chromium and two sites per session.

``site_dir`` is a real site: ``ligsite build`` run in-process on a 12-layer tiny random BERT
(a 69-token sentence, a short one, hostile HTML). ``fake_site_dir`` is rendered from
seeded random payloads (tests/viewer/sitefixtures.py) for cases a real build cannot produce:
NaN targets, a sample without composed maps, HTML inside single tokens.
Every page opened through ``viewer`` fails its test on a console error, a page error, a JS
dialog (an injected alert) or any request to a host other than 127.0.0.1 / file://.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from jsunit import served
from ligsite.site import SiteMeta, render_site
from sitefixtures import fake_payload, word_tokens
from tiny_models import build_tiny_model

LONG_TEXT = ("the quick brown fox jumps over the lazy dog while a small cat watches from the old wooden "
             "fence near the river bank and birds sing in tall green trees under a bright blue summer sky "
             "as children play happily on soft grass beside their quiet little house by the hill today and "
             "their mother calls them home for dinner because the sun is going down behind")  # 69 tokens
SITE_TITLE = "Viewer <b>test</b> site"
CONFIG_TOML = f"""
steps = 2
[baselines]
layer = ["zero", "self_input_token", "itb_zero_ratio"]
composed = [["zero", "zero"], ["zero", "att_itb_a0"], ["self_input_token", "att_itb_a0"], ["itb_map_ratio", "zero"]]
[site]
title = "{SITE_TITLE}"
description = "Tiny random BERT & test sentences"
"""

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
INJECTION = '</script><script>alert(1)</script> <img src=x onerror="alert(2)"> & "q" \'s'
INJECTED_TOKENS = ["[CLS]", "</script><script>alert(3)</script>", "<img src=x onerror=alert(4)>", "&amp;", "[SEP]"]


def fixture_payloads() -> list[dict]:
    """The site every viewer test shares: a long sample, short ones, hostile text, CJK."""
    return [
        fake_payload("long69", "a sentence of sixty-nine tokens", word_tokens(69), 12, seed=1),
        fake_payload("short", "The cat sat.", ["[CLS]", "the", "cat", "sat", ".", "[SEP]"], 12, seed=2,
                     nan_targets=(4,)),
        fake_payload("inject", INJECTION, INJECTED_TOKENS, 12, seed=3),
        fake_payload("cjk", "猫が座った。", ["[CLS]", "猫", "が", "座", "った", "。", "[SEP]"], 12, seed=4,
                     composed=()),
    ]


def run_cli(*args: str) -> None:
    """Run the real ``ligsite`` command in-process (no second torch import), failing on exit != 0."""
    from typer.testing import CliRunner

    from ligsite.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


def build_model_site(root: Path, family: str, texts: list[str]) -> Path:
    """``ligsite build`` of ``texts`` with a tiny ``family`` model (8 nodes) into ``root/site``."""
    model = build_tiny_model(family, root / "model")
    (root / "samples.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    run_cli("build", str(root / "samples.txt"), "-o", str(root / "site"), "--model", str(model),
            "--steps", "8", "--device", "cpu", "--cache-dir", str(root / "cache"))
    return root / "site"


@pytest.fixture(scope="session")
def build_args(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Any) -> list[str]:
    """SAMPLES file, model, config and cache options shared by build and render in these tests."""
    folder = tmp_path_factory.mktemp("inputs")
    rows = [{"id": "long69", "text": LONG_TEXT}, {"id": "short", "text": "The cat sat."},
            {"id": "inject", "text": INJECTION}]
    (folder / "samples.jsonl").write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    (folder / "ligsite.toml").write_text(CONFIG_TOML, encoding="utf-8")
    return [str(folder / "samples.jsonl"), "--model", str(tiny_model_dir("bert", 12)), "--config",
            str(folder / "ligsite.toml"), "--cache-dir", str(folder / "cache"), "--device", "cpu"]


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory: pytest.TempPathFactory, build_args: list[str]) -> Path:
    out = tmp_path_factory.mktemp("site")
    run_cli("build", *build_args, "-o", str(out))
    return out


@pytest.fixture(scope="session")
def fake_site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fakesite")
    meta = SiteMeta(title=SITE_TITLE, description="Fixture payloads & random values",
                    provenance={"model": "fake-random", "steps": 8, "quadrature": "gauss-legendre"})
    render_site(fixture_payloads(), out, meta)
    return out


@pytest.fixture(scope="session")
def site_url(site_dir: Path) -> Iterator[str]:
    with served(site_dir) as url:
        yield url


@pytest.fixture(scope="session")
def fake_site_url(fake_site_dir: Path) -> Iterator[str]:
    with served(fake_site_dir) as url:
        yield url


@pytest.fixture(scope="session")
def viewer_browser() -> Iterator[Any]:
    """Debian's Chromium (or $LIGSITE_CHROMIUM), launched once per session, never a downloaded one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        path = os.environ.get("LIGSITE_CHROMIUM", "/usr/bin/chromium")  # CI may point at google-chrome
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Viewer:
    """A page plus the problems seen on it; helpers read the automation interface."""

    page: Any
    problems: list[str] = field(default_factory=list)

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.evaluate("() => window.ligsite.ready")

    def state(self) -> dict:
        return self.page.evaluate("() => window.ligsite.getState()")

    def set_state(self, **partial: Any) -> None:
        self.page.evaluate("(p) => window.ligsite.setState(p)", partial)

    def checksum(self, selector: str = "#matrix") -> str:
        return self.page.get_attribute(selector, "data-checksum")

    def tokens(self, selector: str = "#matrix") -> list[str]:
        return json.loads(self.page.get_attribute(selector, "data-tokens"))


def _watch(page: Any, problems: list[str]) -> None:
    def on_request(route: Any) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("file", "data", "blob") or url.hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            problems.append(f"request to another host: {route.request.url}")
            route.abort()

    page.route("**/*", on_request)
    page.on("console", lambda m: m.type in ("error", "assert") and problems.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))


@pytest.fixture()
def viewer(viewer_browser: Any) -> Iterator[Viewer]:
    context = viewer_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    result = Viewer(page)
    _watch(page, result.problems)
    yield result
    context.close()
    assert result.problems == [], result.problems
