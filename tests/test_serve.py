"""`ligsite serve`: a built site is reachable on 127.0.0.1, and bad input gives one clear line."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from ligsite.errors import SiteError
from ligsite.serve import make_server, url_of

INDEX = "<!doctype html><title>t</title><p>ligsite preview</p>"


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "index.html").write_text(INDEX, encoding="utf-8")
    (tmp_path / "data" / "manifest.json").write_text('{"schema": 1}', encoding="utf-8")
    return tmp_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_server_serves_index_and_data_files_of_the_site(site: Path) -> None:
    server = make_server(site, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = url_of(server)
        assert url.startswith("http://127.0.0.1:")
        status, _, body = _get(url)
        assert (status, body.decode()) == (200, INDEX)
        status, kind, body = _get(url + "data/manifest.json")
        assert (status, kind, body) == (200, "application/json", b'{"schema": 1}')
    finally:
        server.shutdown()
        server.server_close()


def test_folder_without_index_html_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="no index.html"):
        make_server(tmp_path, port=0)
    with pytest.raises(SiteError, match="does not exist"):
        make_server(tmp_path / "missing", port=0)


def test_taken_port_is_one_clear_line_and_exit_1(site: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "ligsite", "serve", str(site), "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_cli_serve_answers_until_stopped(site: Path) -> None:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "ligsite", "serve", str(site), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, body = _get(f"http://127.0.0.1:{port}/index.html")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert (status, body.decode()) == (200, INDEX)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert f"at http://127.0.0.1:{port}/" in out
