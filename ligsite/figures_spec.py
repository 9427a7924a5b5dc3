"""The figures SPEC (TOML): which views of a built site become which publication figures.

Parsed and checked against the site's manifest and payloads *before* a browser starts, so a typo
in a sample id or baseline is one clear line, not a blank figure. Keys are documented in
docs/figures.md. Each figure becomes one or more panels; a panel is a viewer state (the keys of
``window.ligsite.setState``), exported by the viewer itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ligsite.config import read_toml
from ligsite.errors import SiteError

# viewer state keys a panel may set, by spec key
PANEL_KEYS = ("route", "baselines", "layers", "target", "norm", "hide_self", "axis", "word_agg", "scale")
FIGURE_KEYS = ("name", "sample", "caption", "title", "font_size", "colour_range", "theme", "width", "formats",
               "png_scale", "panels", "columns", "diagnostic", *PANEL_KEYS)
CHOICES = {"route": ("direct", "composed"), "norm": ("raw", "share", "share-noself"),
           "axis": ("token", "word"), "word_agg": ("sum", "mean"), "scale": ("shared", "layer"),
           "theme": ("light", "dark"), "formats": ("svg", "png"), "diagnostic": ("l2",),
           "colour_range": ("panel", "figure")}
DEFAULTS: dict[str, Any] = {"route": "direct", "layers": "all", "norm": "raw", "hide_self": False,
                            "axis": "token", "word_agg": "sum", "scale": "shared", "theme": "light",
                            "formats": ["svg", "png"], "png_scale": 2, "caption": None, "title": None,
                            "font_size": None, "colour_range": "panel", "width": None, "columns": None,
                            "diagnostic": None, "target": None}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Figure:
    """One output figure: its panels as viewer states, in reading order."""

    name: str
    sample: str
    panels: tuple[dict[str, Any], ...]
    caption: str | bool | None  # None: the viewer's generated captions; False: none; a string: this one
    theme: str
    width: int | None
    formats: tuple[str, ...]
    png_scale: float
    columns: int
    diagnostic: str | None
    title: str | None = None
    font_size: float | None = None  # caption and title size in px; None: the viewer's 12
    colour_range: str | float = "panel"  # "panel", "figure" (one range, the panels' largest) or a fixed ±bound

    def export_options(self) -> dict[str, Any]:
        """The exportSVG options every panel of this figure is drawn with (figure-wide keys only)."""
        options: dict[str, Any] = {"theme": self.theme}
        if self.font_size is not None:
            options["font_size"] = self.font_size
        if self.caption is False:
            options["caption"] = False
        if len(self.panels) == 1:  # one panel: its export is the figure, so it carries the text
            if isinstance(self.caption, str):
                options["caption"] = self.caption
            if self.title:
                options["title"] = self.title
        return options


def load_spec(path: Path, site: Path) -> list[Figure]:
    """Read SPEC and resolve every figure against the site it will be drawn from."""
    path = Path(path)
    data = read_toml(path, "figures spec", SiteError)
    unknown = set(data) - {"defaults", "figure"}
    if unknown:
        raise SiteError(f"{path}: unknown table {sorted(unknown)[0]!r}; valid: defaults, figure")
    entries = data.get("figure", [])
    if not isinstance(entries, list) or not entries:
        raise SiteError(f"{path}: no figures; add at least one [[figure]] table")
    manifest = _manifest(site)
    defaults = {**DEFAULTS, **_checked_keys(data.get("defaults", {}), f"{path} [defaults]")}
    figures = [_entry(entry, defaults, manifest, site, path, f"{path} figure {k + 1}") for k, entry in enumerate(entries)]
    names = [figure.name for figure in figures]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate:
        raise SiteError(f"{path}: figure name {duplicate!r} is used twice; names become file names")
    return figures


def _entry(entry: Any, defaults: dict[str, Any], manifest: dict[str, Any], site: Path, path: Path, where: str) -> Any:
    """A viewer figure, or a plot of the analysis page (``kind = "analysis"``: ligsite/analysis_figures.py)."""
    from ligsite.analysis_figures import analysis_figure, is_analysis  # here: that module imports this one

    if is_analysis(entry, where):
        return analysis_figure(entry, defaults, path, site, where)
    return _figure({**defaults, **_checked_keys(entry, where)}, manifest, site, where)


def payload_of(site: Path, manifest: dict[str, Any], sample: str) -> dict[str, Any]:
    """The per-sample payload file the viewer loads for ``sample``."""
    entry = next(item for item in manifest["samples"] if item["id"] == sample)
    return orjson.loads((Path(site) / entry["file"]).read_bytes())


def _manifest(site: Path) -> dict[str, Any]:
    file = Path(site) / "data" / "manifest.json"
    if not (Path(site) / "index.html").is_file() or not file.is_file():
        raise SiteError(f"{site} is not a built site (needs index.html and data/manifest.json); "
                        f"build one with `ligsite build SAMPLES -o {site}` (not --single-file)")
    return orjson.loads(file.read_bytes())


def _checked_keys(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SiteError(f"{where}: must be a table of keys, got {table!r}")
    for key in table:
        if key not in FIGURE_KEYS:
            raise SiteError(f"{where}: unknown key {key!r}; valid: {', '.join(FIGURE_KEYS)}")
    return table


def _figure(entry: dict[str, Any], manifest: dict[str, Any], site: Path, where: str) -> Figure:
    name, sample = entry.get("name"), entry.get("sample")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise SiteError(f"{where}: name must be letters, digits, '-' or '_' (a file name), got {name!r}")
    ids = [item["id"] for item in manifest["samples"]]
    if sample not in ids:
        raise SiteError(f"{where}: sample {sample!r} is not in the site; valid ids: {', '.join(ids)}")
    for key in ("theme", "diagnostic"):
        if entry[key] is not None:
            _choice(where, key, entry[key])
    formats = entry["formats"] if isinstance(entry["formats"], list) else [entry["formats"]]
    for item in formats:
        _choice(where, "formats", item)
    payload = payload_of(site, manifest, sample)
    overrides = entry.get("panels") or [{}]
    if not isinstance(overrides, list):
        raise SiteError(f"{where}: panels must be a list of tables, got {overrides!r}")
    panels = tuple(state for panel in overrides
                   for state in _states({**entry, **_panel_keys(panel, where)}, manifest, payload, where))
    if entry["diagnostic"] == "l2":
        _check_l2_pair(panels, where)
    return Figure(name=name, sample=sample, panels=panels, caption=_caption(entry["caption"], where),
                  title=_text(entry["title"], "title", where), font_size=_font_size(entry["font_size"], where),
                  colour_range=_colour_range(entry["colour_range"], where), theme=entry["theme"], width=_positive(entry["width"], "width", where, optional=True),
                  formats=tuple(dict.fromkeys(formats)), png_scale=_positive(entry["png_scale"], "png_scale", where),
                  columns=int(_positive(entry["columns"] or min(len(panels), 4), "columns", where)),
                  diagnostic=entry["diagnostic"])


def _panel_keys(panel: Any, where: str) -> dict[str, Any]:
    if not isinstance(panel, dict) or set(panel) - set(PANEL_KEYS):
        raise SiteError(f"{where}: a panel is a table of {', '.join(PANEL_KEYS)}; got {panel!r}")
    return panel


def _states(entry: dict[str, Any], manifest: dict[str, Any], payload: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """One viewer state per requested layer (``layers = "all"`` is one all-layer panel)."""
    for key in ("route", "norm", "axis", "word_agg", "scale"):
        _choice(where, key, entry[key])
    state: dict[str, Any] = {"sample": entry["sample"], "route": entry["route"], "norm": entry["norm"],
                             "hideSelf": 1 if entry["hide_self"] else 0, "axis": entry["axis"],
                             "wordAgg": entry["word_agg"], "scale": entry["scale"]}
    state.update(_baselines(entry, manifest, where))
    if entry["target"] is not None:
        if not isinstance(entry["target"], int) or entry["target"] < 0:
            raise SiteError(f"{where}: target must be a token (or word) index >= 0, got {entry['target']!r}")
        state["target"] = entry["target"]
    return [{**state, "layer": layer} for layer in _layers(entry["layers"], payload["layers"], where)]


def _baselines(entry: dict[str, Any], manifest: dict[str, Any], where: str) -> dict[str, str]:
    given = entry.get("baselines") or {}
    routes = manifest["routes"]
    if entry["route"] == "direct":
        layer = given.get("layer", (routes["direct"] or [None])[0])
        if layer not in routes["direct"] or set(given) - {"layer"}:
            raise SiteError(f"{where}: direct baselines are {{layer = ...}} with layer one of "
                            f"{', '.join(routes['direct']) or 'none (the site has no direct maps)'}; got {given!r}")
        return {"layerBaseline": layer}
    pairs = [list(pair) for pair in routes["composed"]]
    first = pairs[0] if pairs else [None, None]  # the default pair: the site's first
    pair = [given.get("att", first[0]), given.get("mlp", first[1])]
    if pair not in pairs or set(given) - {"att", "mlp"}:
        valid = ", ".join(f"{att}+{mlp}" for att, mlp in pairs) or "none (the site has no composed maps)"
        raise SiteError(f"{where}: composed baselines {{att, mlp}} must be one of {valid}; got {given!r}")
    return {"attBaseline": pair[0], "mlpBaseline": pair[1]}


def _layers(value: Any, stored: list[int], where: str) -> list[int | str]:
    """"all", one block index, a list of them, or a range "a-b" (inclusive)."""
    if value == "all":
        return ["all"]
    if isinstance(value, str) and re.fullmatch(r"\d+-\d+", value):
        low, high = (int(part) for part in value.split("-"))
        value = list(range(low, high + 1))
    items = value if isinstance(value, list) else [value]
    bad = [item for item in items if not isinstance(item, int) or isinstance(item, bool) or item not in stored]
    if bad or not items:
        raise SiteError(f"{where}: layers {value!r} are not all stored block indices; valid: \"all\", "
                        f"one of {stored}, a list of them, or a range like \"{stored[0]}-{stored[-1]}\"")
    return list(items)


def _check_l2_pair(panels: tuple[dict[str, Any], ...], where: str) -> None:
    routes = [panel["route"] for panel in panels]
    layers = {panel["layer"] for panel in panels}
    if sorted(routes) != ["composed", "direct"] or len(layers) != 1 or "all" in layers:
        raise SiteError(f"{where}: diagnostic = \"l2\" needs exactly one direct and one composed panel "
                        f"of one layer; got routes {routes} and layers {sorted(map(str, layers))}")


def _caption(value: Any, where: str) -> str | bool | None:
    if value is None or value is False or isinstance(value, str):
        return value
    raise SiteError(f"{where}: caption must be a string, or false to hide it, got {value!r}")


def _text(value: Any, key: str, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise SiteError(f"{where}: {key} must be a string, got {value!r}")


def _font_size(value: Any, where: str) -> float | None:
    if value is None:
        return None
    size = _positive(value, "font_size", where)
    if not 6 <= size <= 40:
        raise SiteError(f"{where}: font_size must be between 6 and 40 (px), got {value!r}")
    return size


def _colour_range(value: Any, where: str) -> str | float:
    """"panel" (each panel its own range), "figure" (one shared range) or a fixed positive ±bound."""
    if isinstance(value, str):
        _choice(where, "colour_range", value)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise SiteError(f"{where}: colour_range must be \"panel\", \"figure\" or a positive number "
                        f"(a fixed ± range), got {value!r}")
    return float(value)


def _choice(where: str, key: str, value: Any) -> None:
    if value not in CHOICES[key]:
        raise SiteError(f"{where}: {key} {value!r} is not valid; choose one of {', '.join(CHOICES[key])}")


def _positive(value: Any, key: str, where: str, optional: bool = False) -> Any:
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SiteError(f"{where}: {key} must be a positive number, got {value!r}")
    return value
