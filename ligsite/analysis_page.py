"""analysis.html, the corpus analysis page: the numbers it lays out and the one file it is.

``page_data`` turns summary.csv's rows into per-(axis, triple) curves and best_pairs.csv's rows
into table rows with a viewer link; ``write_page`` renders the template with D3, the page's ES
modules (web/analysis.js and what it imports, bundled) and those numbers inlined, so the page
opens from file:// too. The page draws, and exports, with the same modules (docs/analysis.md).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from ligsite import diskio
from ligsite.analysis_columns import METRICS
from ligsite.analysis_tables import KEY_COLUMNS, TOP
from ligsite.config import BuildConfig
from ligsite.errors import SiteError

PAGE_TEMPLATE, PAGE_MODULE = "analysis.html.j2", "analysis.js"
VIEWER = "../index.html"  # the viewer, seen from a site's analysis/ folder (``build --analysis``)


def page_data(summary: list[dict[str, Any]], best: list[dict[str, Any]], config: BuildConfig,
              viewer: str | None) -> dict[str, Any]:
    """What analysis.html lays out: summary.csv's curves per (axis, triple) and best_pairs.csv's rows,
    each with the viewer link (``viewer`` + state hash) of its median sample; NaN becomes null."""
    number = lambda value: value if isinstance(value, float) and math.isfinite(value) else None  # noqa: E731
    layers = sorted({row["layer"] for row in summary if row["layer"] != "all"})
    series = {}
    for row in summary:
        if row["layer"] == "all":
            continue
        key = tuple(row[c] for c in KEY_COLUMNS if c != "layer")
        entry = series.setdefault(key, {**dict(zip(("axis", "layer_baseline", "att_baseline", "mlp_baseline"), key)),
                                        "points": {m: [] for m in METRICS}})
        for m in METRICS:
            entry["points"][m].append({"layer": row["layer"], "n": row[f"{m}_n"], "mean": number(row[f"{m}_mean"]),
                                       "median": number(row[f"{m}_median"]), "q25": number(row[f"{m}_q25"]),
                                       "q75": number(row[f"{m}_q75"])})
    rows = [{**{k: number(v) if isinstance(v, float) else v for k, v in r.items()}, "href": _viewer_link(viewer, r)}
            for r in best]
    return {"layers": layers, "layer_baselines": list(config.layer_baselines), "metrics": ["pearson", "rel", "abs"],
            "series": list(series.values()), "best": rows}


def _viewer_link(viewer: str | None, row: dict[str, Any]) -> str | None:
    """The viewer state showing ``row``'s layer and pair on its median sample (docs/architecture.md keys)."""
    from urllib.parse import urlencode

    if viewer is None or not row["median_sample"]:
        return None
    state = {"sample": row["median_sample"], "route": "composed", "layerBaseline": row["layer_baseline"],
             "attBaseline": row["att_baseline"], "mlpBaseline": row["mlp_baseline"], "layer": row["layer"],
             "axis": "token", "norm": "raw", "hideSelf": 0}
    return f"{viewer}#{urlencode(state)}"


def write_page(out: Path, summary: list[dict[str, Any]], best: list[dict[str, Any]], config: BuildConfig,
               samples: int, degenerate: int) -> Path:
    """analysis.html in ``out``: one file (D3, the page module and the numbers inlined), so it opens
    from file:// too; its table links into the viewer when ``out`` sits in a site (``out/..`` holds
    the site's marker file)."""
    from importlib.resources import files

    import jinja2

    from ligsite.bundle import bundle_modules, inline_script
    from ligsite.site import MARKER, script_json

    web = files("ligsite.web")
    viewer = VIEWER if (out.parent / MARKER).is_file() else None
    modules = {item.name: item.read_text(encoding="utf-8") for item in web.iterdir() if item.name.endswith(".js")}
    undefined = sum(row["pearson_undefined"] for row in summary if row["axis"] == "token" and row["layer"] == "all")
    context = {
        "page_title": f"Corpus analysis — {config.title}", "title": f"Corpus analysis: {samples} samples",
        "version": ligsite_version(), "viewer": viewer, "top": TOP,
        "provenance": [("model", config.model), ("steps", config.steps), ("quadrature", config.quadrature),
                       ("dtype", config.dtype), ("samples", samples)],
        "undefined_note": f"{undefined} token-axis Pearson columns over all triples, {degenerate} samples with a "
                          f"layer of no defined Pearson",
        "data_json": script_json(page_data(summary, best, config, viewer)),
        "d3_js": inline_script(web.joinpath("vendor/d3.min.js").read_text(encoding="utf-8")),
        "analysis_js": inline_script(bundle_modules(modules, PAGE_MODULE)),
    }
    source = files("ligsite.templates").joinpath(PAGE_TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    path = out / "analysis.html"
    diskio.replace_atomically(path, env.from_string(source).render(context).encode("utf-8"))
    return path


def ligsite_version() -> str:
    import ligsite

    return ligsite.__version__


DATA_SCRIPT = re.compile(r'<script type="application/json" id="analysis-data">(.*?)</script>', re.S)


def read_page_data(path: Path) -> dict[str, Any]:
    """The numbers an analysis.html lays out (``page_data``'s value), read back from the page."""
    import orjson

    match = DATA_SCRIPT.search(Path(path).read_text(encoding="utf-8"))
    if not match:
        raise SiteError(f"{path} holds no analysis data; write it with `ligsite analyze SAMPLES -o DIR`")
    return orjson.loads(match.group(1))
