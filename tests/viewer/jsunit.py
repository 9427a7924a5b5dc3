"""Harness for unit tests of the viewer's pure ES modules in real Chromium.

Why: the modules in web/ are the code users run; testing them in the browser that runs them (not
in a JS re-implementation) catches module-syntax, typed-array and DOM differences. A throwaway
folder holding a copy of web/ and a blank page is served on 127.0.0.1; tests `import()` modules.
Every page fails its test on a console error, a page error, or a request to a non-local host.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from ligsite.payload import decode, quantize

WEB = Path(__file__).resolve().parents[2] / "web"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 in a daemon thread while the block runs; yields the base URL
    (with slash). Every viewer test site goes through here, so all stop the same way."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def unit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serve a copy of web/ under /web/ plus a blank /index.html; yields the base URL."""
    root = tmp_path_factory.mktemp("jsunit")
    shutil.copytree(WEB, root / "web")
    (root / "index.html").write_text("<!doctype html><meta charset=utf-8><link rel=icon href=data:,><title>unit</title><body></body>")
    with served(root) as url:
        yield url.rstrip("/")


def watch_page(page: object, problems: list[str]) -> None:
    """Collect console errors, page errors and requests to hosts other than this machine."""
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))

    def on_request(route: object) -> None:
        url = urlparse(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            problems.append(f"non-local request: {route.request.url}")
            route.abort()

    page.route("**/*", on_request)


@pytest.fixture()
def unit_page(viewer_browser: object, unit_server: str) -> Iterator[object]:
    """A fresh page on the blank test page; fails the test on errors or non-local requests.

    The browser is the session's one Chromium from tests/viewer/conftest.py (viewer_browser)."""
    context = viewer_browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    watch_page(page, problems)
    page.goto(unit_server + "/index.html")
    yield page
    context.close()
    assert not problems, problems


def f32(array: np.ndarray) -> list[float]:
    """A float32 array as the exact Python floats JS will hold in a Float32Array."""
    return np.asarray(array, dtype=np.float32).astype(np.float64).ravel().tolist()


def js_nan(values: list[float]) -> list[float | None]:
    """NaN cannot cross JSON: send None, which the page turns back into NaN."""
    return [None if v != v else v for v in values]


# JS prelude for page.evaluate: turn lists with nulls back into Float32Arrays with NaN.
F32 = "const F32 = (xs) => Float32Array.from(xs, (x) => (x === null ? NaN : x));"


def make_payload(tokens: list[str], word_index: list[int], words: list[str], n_layers: int,
                 seed: int = 0) -> tuple[dict, dict[str, np.ndarray]]:
    """A schema-1 payload (int16 + per-layer scale) and the float32 matrices it decodes to."""
    rng = np.random.default_rng(seed)
    t = len(tokens)
    keys = ["direct:zero", "direct:self_input_token", "composed:zero+zero"]
    maps, decoded = {}, {}
    for k, key in enumerate(keys):
        m = rng.normal(size=(n_layers, t, t)) * (k + 1)  # [layer, source, target]
        maps[key] = quantize(m)
        decoded[key] = decode(maps[key]).astype(np.float32)  # what web/data.js gives the views
    payload = {
        "schema": 1, "id": "unit-sample", "text": " ".join(words), "label": None, "source": None,
        "tokens": tokens, "word_ids": None, "words": words, "word_index": word_index,
        "layers": list(range(n_layers)), "n_heads": 2, "orientation": "source,target",
        "maps": maps, "completeness": {}, "l2": {}, "warnings": [],
        "provenance": {"model": "unit", "steps": 8, "quadrature": "gauss-legendre", "ligsite": "0"},
    }
    return payload, decoded
