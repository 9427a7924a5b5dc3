"""``ligsite figures`` entries of kind "analysis": one plot of the corpus analysis page.

An entry names a plot of an ``analysis.html`` (``ligsite analyze`` or ``build --analysis``): the
metric, the axis, the direct baseline and which composed pairs and layers to draw. It is checked
against the numbers the page holds before a browser starts, then drawn by the page itself through
``window.ligsiteAnalysis.exportSVG`` — the function behind the page's export buttons — so a figure
and the page's export are the same bytes. Keys: docs/figures.md, "Analysis plots".
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ligsite.analysis_page import read_page_data
from ligsite.errors import SiteError
from ligsite.figures_spec import DEFAULTS, NAME, _caption, _choice, _font_size, _layers, _positive, _text

KIND = "analysis"
# keys of an analysis entry; the last seven are the figure keys it shares with viewer figures
ANALYSIS_KEYS = ("kind", "name", "analysis", "metric", "axis", "layer_baseline", "pairs", "layers",
                 "theme", "width", "formats", "png_scale", "caption", "title", "font_size")
SHARED_KEYS = ANALYSIS_KEYS[-7:]
METRICS = ("pearson", "rel", "abs")
PAGE = "analysis.html"


@dataclass(frozen=True)
class AnalysisFigure:
    """One plot of an analysis page: ``plot`` is the page's exportSVG argument."""

    name: str
    page: Path  # the analysis.html that draws it
    plot: dict[str, Any]  # {axis, metric, layerBaseline, pairs: ["att+mlp", ...] | None, layers: [int] | None}
    theme: str
    width: int | None
    formats: tuple[str, ...]
    png_scale: float
    caption: str | bool | None  # None: the page's generated caption; False: none; a string: this one
    title: str | None
    font_size: float | None

    def export_options(self) -> dict[str, Any]:
        """The exportSVG options, named as in the viewer's export."""
        options: dict[str, Any] = {"theme": self.theme}
        for key in ("caption", "title", "font_size"):
            if getattr(self, key) is not None:
                options[key] = getattr(self, key)
        return options


def is_analysis(entry: Any, where: str) -> bool:
    """Whether a ``[[figure]]`` table is an analysis plot (``kind = "analysis"``); any other kind is an error."""
    if not isinstance(entry, dict) or "kind" not in entry:
        return False
    if entry["kind"] != KIND:
        raise SiteError(f"{where}: kind {entry['kind']!r} is not valid; use kind = "
                        f"\"{KIND}\" for a plot of the analysis page, or leave it out for a viewer figure")
    return True


def analysis_figure(entry: dict[str, Any], defaults: dict[str, Any], spec: Path, site: Path, where: str) -> AnalysisFigure:
    """Check one analysis entry (over the spec's shared defaults) against the page it will be drawn from."""
    unknown = [key for key in entry if key not in ANALYSIS_KEYS]
    if unknown:
        raise SiteError(f"{where}: unknown key {unknown[0]!r} for kind = \"{KIND}\"; valid: {', '.join(ANALYSIS_KEYS)}")
    entry = {**{key: DEFAULTS.get(key) for key in SHARED_KEYS},
             **{key: defaults[key] for key in SHARED_KEYS if key in defaults}, **entry}
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SiteError(f"{where}: name must be letters, digits, '-' or '_' (a file name), got {name!r}")
    page = _page(entry.get("analysis"), spec, site, where)
    data = read_page_data(page)
    formats = entry["formats"]
    formats = formats if isinstance(formats, list) else [formats]
    for item in formats:
        _choice(where, "formats", item)
    theme = entry["theme"]
    _choice(where, "theme", theme)
    return AnalysisFigure(name=name, page=page, plot=_plot(entry, data, where), theme=theme,
                          width=_positive(entry["width"], "width", where, optional=True),
                          formats=tuple(dict.fromkeys(formats)),
                          png_scale=_positive(entry["png_scale"], "png_scale", where),
                          caption=_caption(entry["caption"], where), title=_text(entry["title"], "title", where),
                          font_size=_font_size(entry["font_size"], where))


def _page(folder: Any, spec: Path, site: Path, where: str) -> Path:
    """``analysis`` (an analyze output folder, relative to the spec's folder), else the site's analysis/."""
    if folder is not None and not isinstance(folder, str):
        raise SiteError(f"{where}: analysis must be a folder path (a string), got {folder!r}")
    base = (Path(spec).parent / folder) if folder is not None else Path(site) / "analysis"
    if not (base / PAGE).is_file():
        hint = (f"write it with `ligsite analyze SAMPLES -o {folder}`" if folder is not None else
                "build the site with `ligsite build --analysis`, or set analysis = \"DIR\" (a `ligsite analyze -o DIR` folder)")
        raise SiteError(f"{where}: {base / PAGE} does not exist; {hint}")
    return base / PAGE


def _plot(entry: dict[str, Any], data: dict[str, Any], where: str) -> dict[str, Any]:
    metric, axis = entry.get("metric", "pearson"), entry.get("axis", "token")
    if metric not in METRICS:
        raise SiteError(f"{where}: metric {metric!r} is not valid; choose one of {', '.join(METRICS)}")
    _choice(where, "axis", axis)
    layer_baseline = entry.get("layer_baseline", data["layer_baselines"][0])
    if layer_baseline not in data["layer_baselines"]:
        raise SiteError(f"{where}: layer_baseline {layer_baseline!r} is not a direct baseline of the analysis; "
                        f"valid: {', '.join(data['layer_baselines'])}")
    pairs = _pairs(entry.get("pairs"), data, where)
    layers = _layers(entry.get("layers", "all"), data["layers"], where)
    return {"axis": axis, "metric": metric, "layerBaseline": layer_baseline, "pairs": pairs,
            "layers": None if layers == ["all"] else layers}


def _pairs(value: Any, data: dict[str, Any], where: str) -> list[str] | None:
    """``pairs = [[att, mlp], ...]`` as the page's "att+mlp" names; None (all pairs) when not given."""
    if value is None:
        return None
    stored = list(dict.fromkeys((s["att_baseline"], s["mlp_baseline"]) for s in data["series"]))
    items = value if isinstance(value, list) else [value]
    bad = next((item for item in items if not isinstance(item, list) or tuple(item) not in stored), None)
    if bad is not None or not items:
        valid = ", ".join(f'["{att}", "{mlp}"]' for att, mlp in stored)
        raise SiteError(f"{where}: pairs must be a non-empty list of composed [att, mlp] pairs of the analysis; "
                        f"got {bad if items else value!r}; valid: {valid}")
    return list(dict.fromkeys(f"{att}+{mlp}" for att, mlp in items))


def render_analysis(figure: AnalysisFigure, browser: Any, errors: list[str]) -> dict[str, bytes]:
    """The figure's files, drawn by its page in a new page of ``browser`` (the one ``figures`` drives)."""
    from playwright.sync_api import Error as PlaywrightError

    from ligsite.figures import VIEWPORT, _local_only, _resized, clean_png

    page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.route("**/*", _local_only)
    try:
        page.goto(figure.page.resolve().as_uri())
        page.wait_for_function("() => window.ligsiteAnalysis !== undefined")
        svg = _resized(page.evaluate("([p, o]) => window.ligsiteAnalysis.exportSVG(p, o)",
                                     [figure.plot, figure.export_options()]), figure.width)
        files = {"svg": svg.encode("utf-8")}
        if "png" in figure.formats:
            url = page.evaluate("([svg, s]) => window.ligsiteAnalysis.rasterize(svg, s)", [svg, figure.png_scale])
            files["png"] = clean_png(base64.b64decode(url.split(",", 1)[1]))
    except PlaywrightError as error:
        raise SiteError(f"the analysis page {figure.page} failed: {error.message.splitlines()[0]}") from None
    finally:
        page.close()
    if errors:
        raise SiteError(f"the analysis page reported an error while exporting: {errors[0]}")
    return {fmt: files[fmt] for fmt in figure.formats}


def gallery_link(figure: AnalysisFigure, out: Path) -> str:
    """The figures page's link from an analysis figure to its live page."""
    href = Path(os.path.relpath(figure.page.resolve(), Path(out).resolve())).as_posix()
    return f'<a href="{html.escape(href)}">open the analysis page</a>'
