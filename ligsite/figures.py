"""``ligsite figures``: publication figures drawn by the built viewer itself, headless.

Each panel is set on the real viewer through ``window.ligsite.setState`` and exported with
``window.ligsite.exportSVG``, so a figure and the page can never disagree. Panels of one figure
are laid side by side in one SVG; the PNG is that SVG rasterized by the site's own
``assets/export.js``. Output is deterministic: the exporter writes no dates, and PNG chunks that
could carry time or text metadata are dropped, so the same site and SPEC give identical bytes.
"""

from __future__ import annotations

import base64
import html
import os
import re
import struct
import threading
import urllib.parse
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from ligsite import diskio
from ligsite.analysis_figures import AnalysisFigure, gallery_link, render_analysis
from ligsite.errors import SiteError
from ligsite.figures_spec import Figure, load_spec, payload_of
from ligsite.serve import make_server, url_of

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
FONT = "Helvetica, Arial, sans-serif"
PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs"}


def chromium_path() -> str:
    """The browser to drive: $LIGSITE_CHROMIUM, else Debian's /usr/bin/chromium."""
    return os.environ.get("LIGSITE_CHROMIUM", "/usr/bin/chromium")


def render_figures(spec: Path, site: Path, out: Path) -> list[Path]:
    """Render every figure of ``spec`` from ``site`` into ``out``; returns the files written."""
    site, out = Path(site), Path(out)
    figures = load_spec(spec, site)
    rendered: dict[str, dict[str, bytes]] = {}
    with _viewer(site) as viewer:
        names = viewer.baseline_names()
        for figure in figures:
            if isinstance(figure, AnalysisFigure):  # a plot of the analysis page, drawn by that page
                rendered[figure.name] = render_analysis(figure, viewer.page.context.browser, viewer.errors)
                continue
            options = {**figure.export_options(), **_domain(figure, viewer)}
            svg = compose(figure, [viewer.export(panel, options) for panel in figure.panels],
                          _diagnostic_line(figure, site, names))
            files = {"svg": svg.encode("utf-8")}
            if "png" in figure.formats:
                files["png"] = clean_png(viewer.png(svg, figure.png_scale))
            rendered[figure.name] = {fmt: files[fmt] for fmt in figure.formats}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, files in rendered.items():
        for fmt, data in files.items():
            diskio.replace_atomically(out / f"{name}.{fmt}", data)
            written.append(out / f"{name}.{fmt}")
    diskio.replace_atomically(out / "index.html", gallery(figures, site, out).encode("utf-8"))
    return [*written, out / "index.html"]


class _Viewer:
    """One loaded viewer page; every call drives it through window.ligsite only."""

    def __init__(self, page: Any, errors: list[str]) -> None:
        self.page, self.errors = page, errors

    def export(self, state: dict[str, Any], options: dict[str, Any]) -> str:
        """The viewer's SVG of ``state``; options as exportSVG takes them (theme, caption, ...)."""
        self._show(state)
        svg = self._evaluate("(o) => window.ligsite.exportSVG(o)", options)
        self._check()
        return svg

    def colour_range(self, state: dict[str, Any]) -> float:
        """The largest ± bound the viewer's export of ``state`` colours with."""
        self._show(state)
        return float(self._evaluate("() => window.ligsite.exportRange()", None))

    def baseline_names(self) -> dict[str, str]:
        """The viewer's human names of the baselines (web/options.js), for lines drawn here."""
        return self._evaluate("async () => (await import('./assets/options.js')).BASELINE_NAMES", None)

    def _show(self, state: dict[str, Any]) -> None:
        applied = self._evaluate(
            "async (s) => { await window.ligsite.setState(s); return window.ligsite.getState(); }", state)
        differs = {key: (value, applied.get(key)) for key, value in state.items() if str(applied.get(key)) != str(value)}
        if differs:
            raise SiteError(f"the viewer did not take the state {differs} (asked, got) for sample {state['sample']}")

    def png(self, svg: str, scale: float) -> bytes:
        url = self._evaluate(
            "async ([svg, scale]) => (await import('./assets/export.js')).exportPNG(svg, scale)", [svg, scale])
        self._check()
        return base64.b64decode(url.split(",", 1)[1])

    def _evaluate(self, script: str, argument: Any) -> Any:
        """Run ``script`` in the page; a JS exception becomes one SiteError line."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            return self.page.evaluate(script, argument)
        except PlaywrightError as error:
            raise SiteError(f"the viewer failed: {error.message.splitlines()[0]}") from None

    def _check(self) -> None:
        if self.errors:
            raise SiteError(f"the viewer reported an error while exporting: {self.errors[0]}")


@contextmanager
def _viewer(site: Path) -> Iterator[_Viewer]:
    """Serve ``site`` on loopback and open its index in headless Chromium until the block ends."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    server = make_server(site, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            try:
                browser = playwright.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
            except PlaywrightError as error:
                raise SiteError(f"cannot start the browser at {chromium_path()} (set LIGSITE_CHROMIUM): "
                                f"{str(error).splitlines()[0]}") from None
            try:
                page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.route("**/*", _local_only)
                page.goto(url_of(server) + "index.html")
                page.wait_for_function("() => window.ligsite !== undefined && window.ligsite.ready !== undefined")
                page.evaluate("async () => { await window.ligsite.ready; return true; }")
                yield _Viewer(page, errors)
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()


def _local_only(route: Any) -> None:
    """Figures never depend on the network: any request off loopback is refused."""
    host = urllib.parse.urlsplit(route.request.url).hostname
    if host in ("127.0.0.1", None) or route.request.url.startswith("data:"):
        route.continue_()
    else:
        route.abort()


_ROOT = re.compile(r'<svg xmlns="http://www.w3.org/2000/svg" width="([\d.]+)" height="([\d.]+)"')


def svg_size(svg: str) -> tuple[float, float]:
    """Width and height of an exported SVG's root element."""
    match = _ROOT.match(svg)
    if not match:
        raise SiteError("the viewer's exportSVG returned no <svg> root with width and height")
    return float(match.group(1)), float(match.group(2))


def _domain(figure: Figure, viewer: _Viewer) -> dict[str, float]:
    """The exportSVG ``domain`` option of a figure whose panels share one colour range."""
    if figure.colour_range == "panel":
        return {}
    if figure.colour_range == "figure":
        return {"domain": max(viewer.colour_range(panel) for panel in figure.panels)}
    return {"domain": float(figure.colour_range)}


def compose(figure: Figure, panels: list[str], diagnostic: str | None) -> str:
    """One SVG: the panels' own exports on a grid, the figure title and caption above, the
    diagnostic below. Each column is as wide as its widest panel and panels sit 8 px apart, so
    there is no blank band between them.

    A single panel with no diagnostic is the viewer's export (which drew the title and caption).
    """
    if len(panels) == 1 and diagnostic is None:
        return _resized(panels[0], figure.width)
    sizes = [svg_size(svg) for svg in panels]
    cols = min(figure.columns, len(panels))
    col_w = [max(w for k, (w, _) in enumerate(sizes) if k % cols == c) for c in range(cols)]
    rows = [sizes[k:k + cols] for k in range(0, len(sizes), cols)]
    row_h = [max(h for _, h in row) for row in rows]
    width = sum(col_w) + (cols - 1) * 8 + 16
    font = figure.font_size or 12
    texts, y = [], 8.0
    if figure.title and len(panels) > 1:
        y += round(font * 1.3)
        texts.append(f'<text class="figure-title" x="8" y="{_num(y)}" font-size="{_num(round(font * 1.3))}" '
                     f'font-weight="bold">{_xml(figure.title)}</text>')
        y += 6
    if isinstance(figure.caption, str) and figure.caption and len(panels) > 1:
        line_h = round(font * 1.25)
        lines = _wrap(figure.caption, max(12, int((width - 16) / (font * 0.55))))
        tspans = "".join(f'<tspan x="8" y="{_num(y + font + k * line_h)}">{_xml(line)}</tspan>' for k, line in enumerate(lines))
        texts.append(f'<text class="figure-caption" font-size="{_num(font)}">{tspans}</text>')
        y += font + (len(lines) - 1) * line_h + 8
    top = max(y, 8.0)
    bottom = top + sum(row_h) + 8 * (len(rows) - 1)  # where the panels end
    notes = _wrap(diagnostic, max(12, int((width - 16) / (font * 0.55)))) if diagnostic else []
    line_h = round(font * 1.25)
    height = bottom + (16 + font + (len(notes) - 1) * line_h if notes else 8)
    body = []
    for k, svg in enumerate(panels):
        x = 8 + sum(col_w[: k % cols]) + 8 * (k % cols)
        y = top + sum(row_h[: k // cols]) + 8 * (k // cols)
        body.append(_nested(svg, k, x, y))
    if notes:  # the line under the panels, wrapped like the caption: a narrow figure does not cut it
        tspans = "".join(f'<tspan x="8" y="{_num(bottom + 6 + font + k * line_h)}">{_xml(line)}</tspan>'
                         for k, line in enumerate(notes))
        texts.append(f'<text class="diagnostic" font-size="{_num(font)}">{tspans}</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
           f'viewBox="0 0 {_num(width)} {_num(height)}" font-family="{FONT}">'
           f'<rect width="{_num(width)}" height="{_num(height)}" fill="{"#121212" if figure.theme == "dark" else "#ffffff"}"/>'
           f'<g fill="{"#ececec" if figure.theme == "dark" else "#1a1a1a"}">{"".join(texts)}</g>{"".join(body)}</svg>\n')
    return _resized(svg, figure.width)


def _nested(svg: str, k: int, x: float, y: float) -> str:
    """A panel's export as a nested <svg> at (x, y), its ids made unique to the panel."""
    width, height = svg_size(svg)
    ids = re.findall(r'\sid="([^"]+)"', svg)
    for name in ids:
        svg = svg.replace(f'id="{name}"', f'id="{name}-p{k}"').replace(f"url(#{name})", f"url(#{name}-p{k})")
        svg = svg.replace(f'href="#{name}"', f'href="#{name}-p{k}"')
    inner = _ROOT.sub(f'<svg x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" height="{_num(height)}"', svg, count=1)
    return inner.rstrip("\n")


def _resized(svg: str, width: int | None) -> str:
    """Set the displayed width (height follows the aspect ratio); the viewBox keeps the drawing."""
    if width is None:
        return svg
    w, h = svg_size(svg)
    if 'viewBox="' not in svg.split(">", 1)[0]:
        svg = svg.replace("<svg ", f'<svg viewBox="0 0 {_num(w)} {_num(h)}" ', 1)
    return _ROOT.sub(f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(h * width / w)}"',
                     svg, count=1)


def _diagnostic_line(figure: Figure, site: Path, names: dict[str, str] | None = None) -> str | None:
    """The L2 comparison of the figure's direct and composed panels, read from the payload, its
    baselines named as the viewer names them (``names``: id -> label)."""
    if figure.diagnostic != "l2":
        return None
    manifest = orjson.loads((site / "data" / "manifest.json").read_bytes())
    payload = payload_of(site, manifest, figure.sample)
    direct = next(p for p in figure.panels if p["route"] == "direct")
    composed = next(p for p in figure.panels if p["route"] == "composed")
    key = f"{direct['layerBaseline']}|{composed['attBaseline']}+{composed['mlpBaseline']}"
    if key not in payload.get("l2", {}):
        raise SiteError(f"sample {figure.sample} has no L2 diagnostic {key!r}; stored: {', '.join(payload.get('l2', {}))}")
    at = payload["layers"].index(direct["layer"])
    row = {name: payload["l2"][key][name][at] for name in ("abs", "rel", "pearson")}
    shown = " · ".join(f"{name} {_sig(value)}" for name, value in row.items())
    label = (names or {}).get
    pair = (f"direct {label(direct['layerBaseline'], direct['layerBaseline'])} vs composed "
            f"{label(composed['attBaseline'], composed['attBaseline'])} × {label(composed['mlpBaseline'], composed['mlpBaseline'])}")
    return f"L2 direct vs composed, layer {direct['layer']} ({pair}, token axis): {shown}"


def clean_png(data: bytes) -> bytes:
    """The PNG with only the chunks that define pixels; time and text chunks are dropped."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SiteError("the viewer's exportPNG did not return a PNG")
    kept = [(kind, chunk) for kind, chunk in _chunks(data) if kind in PNG_KEEP]
    zlib.decompress(b"".join(chunk[8:-4] for kind, chunk in kept if kind == b"IDAT"))  # a truncated image fails here, not in a paper
    return data[:8] + b"".join(chunk for _, chunk in kept)


def _chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, whole chunk: length, type, data, CRC) of each chunk after the 8-byte signature."""
    at = 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        yield png[at + 4:at + 8], png[at:at + 12 + length]
        at += 12 + length


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the IHDR chunk."""
    return struct.unpack(">II", png[16:24])


def gallery(figures: list[Figure], site: Path, out: Path) -> str:
    """The figures page: each figure with its caption, files, and a link to the same view live."""
    viewer = Path(os.path.relpath(site.resolve(), out.resolve())).as_posix()
    items = []
    for figure in figures:
        image = f"{figure.name}.svg" if "svg" in figure.formats else f"{figure.name}.png"
        files = " · ".join(f'<a href="{figure.name}.{fmt}">{fmt.upper()}</a>' for fmt in figure.formats)
        live = (gallery_link(figure, out) if isinstance(figure, AnalysisFigure) else
                f'<a href="{viewer}/index.html#{html.escape(urllib.parse.urlencode(figure.panels[0]))}">open in the viewer</a>')
        caption = html.escape((figure.caption if isinstance(figure.caption, str) else "") or figure.title or figure.name)
        items.append(f'<figure id="{figure.name}"><img src="{image}" alt="{caption}">'
                     f'<figcaption>{caption} · {files} · {live}'
                     f'</figcaption></figure>')
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Figures</title>"
            "<style>body{font-family:" + FONT + ";margin:1.5rem;max-width:75rem}"
            "img{max-width:100%;height:auto;border:1px solid #ccc}figure{margin:0 0 2rem}"
            "figcaption{margin-top:.4rem}</style></head><body>"
            f"<p><a href=\"{viewer}/index.html\">← viewer</a></p><h1>Figures</h1>\n"
            + "\n".join(items) + "\n</body></html>\n")


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, broken at spaces (a longer word stays whole); each
    line but the last keeps its trailing space, so the lines join back into ``text``."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + len(word) <= width:
            lines[-1] += word + " "
        else:
            lines.append(word + " ")
    lines[-1] = lines[-1][:-1]
    return lines


def _xml(text: str) -> str:
    return html.escape(text, quote=True)


def _num(x: float) -> str:
    r = round(x, 2)
    return str(int(r)) if r == int(r) else str(r)


def _sig(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
