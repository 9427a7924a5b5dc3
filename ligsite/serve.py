"""Local preview of a built site: a static file server on 127.0.0.1.

A built site uses ES modules and ``fetch`` for its data, which browsers refuse from ``file://``,
so previewing it needs an HTTP server. This is the standard library's, bound to loopback only,
with its per-request log silenced (the terminal shows one line with the URL instead).
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path
from typing import Any

from ligsite.errors import SiteError

HOST = "127.0.0.1"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files under ``directory`` without logging every request to stderr."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".mjs": "text/javascript", ".json": "application/json", ".svg": "image/svg+xml"}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return None


def make_server(site: Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for ``site`` bound to 127.0.0.1:``port`` (0 picks a free port); not yet serving.

    Checks first that ``site`` looks like a built site, so a typo gives one clear line rather
    than a directory listing of the wrong folder.
    """
    site = Path(site)
    if not site.is_dir():
        raise SiteError(f"site folder {site} does not exist; build one with `ligsite build SAMPLES -o {site}`")
    if not (site / "index.html").is_file():
        raise SiteError(f"{site} has no index.html, so it is not a built site; build one with `ligsite build SAMPLES -o {site}`")
    if not 0 <= port <= 65535:
        raise SiteError(f"port {port} is out of range; valid: 0 (any free port) to 65535")
    handler = functools.partial(_QuietHandler, directory=str(site.resolve()))
    try:
        return http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as error:
        raise SiteError(f"cannot serve on {HOST}:{port} ({error.strerror}); is another server running? "
                        f"choose another port with --port") from None


def url_of(server: http.server.ThreadingHTTPServer) -> str:
    """The address a browser should open."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/"


def serve(site: Path, port: int = 8000) -> None:
    """Serve ``site`` until interrupted (Ctrl-C)."""
    server = make_server(site, port)
    try:
        print(f"serving {site} at {url_of(server)} (Ctrl-C stops)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
