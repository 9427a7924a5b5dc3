"""Write the static site: pages, per-sample data files, viewer assets, or one single file.

Load → validate → write, like a static-site generator: every payload (docs/architecture.md,
schema 1) is checked first, then the manifest is derived, then files are written. Templates stay
dumb: titles, provenance lines and escaped JSON are prepared here. The site code never imports
torch. Two layouts:

- served (default): ``index.html``, ``s/<id>.html``, ``data/manifest.json``, ``data/<id>.json``,
  ``assets/`` (ES modules, CSS, vendored D3 with its licence). All URLs relative.
- ``single_file``: one ``index.html`` with D3, the viewer bundled into one classic script and
  every payload inlined, because ES modules and fetch do not run from ``file://``.

Injection safety: sentence text reaches HTML only through Jinja autoescaping or JSON inside
``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped as ``\\u003c`` etc.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jinja2
import orjson
from markupsafe import Markup

import ligsite
from ligsite.bundle import bundle_modules, inline_script
from ligsite.errors import SiteError
from ligsite.samples import ID_PATTERN

SCHEMA = 1
TEMPLATE = "viewer.html.j2"
ENTRY_MODULE = "main.js"
STYLESHEETS = ("viewer.css", "theme.css", "layout.css")  # cascade order: later files override
PAYLOAD_KEYS = ("schema", "id", "text", "tokens", "layers", "maps")
PROVENANCE_NAMES = {"model": "model", "steps": "steps", "quadrature": "quadrature",
                    "ligsite": "ligsite", "build_date": "built"}


@dataclass(frozen=True)
class SiteMeta:
    """What the site says about itself: title, description, provenance, routes offered.

    ``routes`` is ``{"direct": [layer baselines], "composed": [[att, mlp], ...]}``; when empty
    it is the union of the maps found in the payloads, in order of first appearance.
    """

    title: str = "ligsite"
    description: str = ""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    routes: Mapping[str, list[Any]] = field(default_factory=dict)
    figures: str | None = None  # relative link to a figures page (`ligsite figures`), shown in the header


def render_site(payloads: list[dict], out: Path, meta: SiteMeta, single_file: bool = False) -> Path:
    """Write the whole site for ``payloads`` into ``out``; returns the path of ``index.html``.

    Re-rendering replaces the build products (``index.html``, ``s/``, ``data/``, ``assets/``)
    and leaves anything else in ``out`` (e.g. a CNAME file) alone.
    """
    for payload in payloads:
        check_payload(payload)
    if meta.figures is not None and re.match(r"^(/|[A-Za-z][\w+.-]*:)", meta.figures):
        raise SiteError(f"figures link {meta.figures!r} must be relative to the site, e.g. 'figures/index.html'")
    if not payloads:
        raise SiteError("no samples to render: the site needs at least one payload")
    _check_unique_ids(payloads)
    manifest = build_manifest(payloads, meta)
    out = Path(out)
    _clear_products(out)
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    if single_file:
        html = _page(env, manifest, meta, sample=None, base="", payloads=payloads)
        (out / "index.html").write_text(html, encoding="utf-8")
        return out / "index.html"
    _write_data(out, payloads, manifest)
    _copy_assets(out / "assets")
    (out / "index.html").write_text(_page(env, manifest, meta, None, "", []), encoding="utf-8")
    (out / "s").mkdir()
    for payload in payloads:
        html = _page(env, manifest, meta, sample=payload, base="../", payloads=[])
        (out / "s" / f"{payload['id']}.html").write_text(html, encoding="utf-8")
    return out / "index.html"


def check_payload(payload: dict) -> None:
    """Raise SiteError unless ``payload`` has the schema-1 keys the viewer reads."""
    missing = [key for key in PAYLOAD_KEYS if key not in payload]
    if missing:
        raise SiteError(f"payload {payload.get('id')!r} lacks {', '.join(missing)}; "
                        f"a schema-1 payload has {', '.join(PAYLOAD_KEYS)}")
    if payload["schema"] != SCHEMA:
        raise SiteError(f"payload {payload['id']!r} has schema {payload['schema']!r}; valid: {SCHEMA}")
    if not isinstance(payload["id"], str) or not ID_PATTERN.fullmatch(payload["id"]):
        raise SiteError(f"sample id {payload['id']!r} is not usable in a file name; "
                        f"valid: 1-64 letters, digits, '_' or '-'")
    if not payload["maps"]:
        raise SiteError(f"payload {payload['id']!r} has no maps; the viewer needs at least one")
    size = len(payload["tokens"])
    for key, stored in payload["maps"].items():
        if list(stored.get("shape", [])) != [len(payload["layers"]), size, size]:
            raise SiteError(f"map {key!r} of sample {payload['id']!r} has shape {stored.get('shape')}; "
                            f"expected [layers, tokens, tokens] = [{len(payload['layers'])}, {size}, {size}]")


def _check_unique_ids(payloads: list[dict]) -> None:
    seen: set[str] = set()
    for payload in payloads:
        if payload["id"] in seen:
            raise SiteError(f"sample id {payload['id']!r} appears twice; ids must be unique")
        seen.add(payload["id"])


def offered_routes(payloads: list[dict]) -> dict[str, list[Any]]:
    """The union of the payloads' map keys as manifest routes, in order of first appearance."""
    keys = dict.fromkeys(key for payload in payloads for key in payload["maps"])
    direct = [key.split(":", 1)[1] for key in keys if key.startswith("direct:")]
    composed = [key.split(":", 1)[1].split("+") for key in keys if key.startswith("composed:")]
    return {"direct": direct, "composed": composed}


def build_manifest(payloads: list[dict], meta: SiteMeta) -> dict[str, Any]:
    """The site-wide manifest (docs/architecture.md): sample list, provenance, routes."""
    samples = [{"id": p["id"], "text": p["text"], "label": p.get("label"), "n_tokens": len(p["tokens"]),
                "file": f"data/{p['id']}.json"} for p in payloads]
    return {"schema": SCHEMA, "title": meta.title, "description": meta.description,
            "provenance": _provenance(meta, payloads), "samples": samples,
            "routes": dict(meta.routes) or offered_routes(payloads)}


def _provenance(meta: SiteMeta, payloads: list[dict]) -> dict[str, Any]:
    provenance = {**payloads[0].get("provenance", {}), **meta.provenance}
    provenance.setdefault("ligsite", ligsite.__version__)
    provenance.setdefault("build_date", dt.date.today().isoformat())
    return provenance


def script_json(value: Any) -> Markup:
    """JSON safe inside any HTML element: ``<``, ``>`` and ``&`` become ``\\u003c`` etc."""
    text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _environment() -> jinja2.Environment:
    source = files("ligsite.templates").joinpath(TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(loader=jinja2.DictLoader({TEMPLATE: source}), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env


def _page(env: jinja2.Environment, manifest: dict, meta: SiteMeta, sample: dict | None,
          base: str, payloads: list[dict]) -> str:
    """One viewer page; ``sample`` set for s/<id>.html, ``payloads`` inlined in single-file mode."""
    single = bool(payloads)
    page_title = meta.title if sample is None else f"{_clip(sample['text'], 80)} — {meta.title}"
    context = {
        "title": meta.title, "description": meta.description, "page_title": page_title,
        "page_description": meta.description if sample is None else _clip(sample["text"], 300),
        "provenance": [(PROVENANCE_NAMES.get(k, k), v) for k, v in manifest["provenance"].items()],
        "version": ligsite.__version__, "base": base, "figures": meta.figures,
        "sample_id": sample["id"] if sample else "",
        "manifest_json": script_json(manifest), "single_file": single,
        "payloads": [(p["id"], script_json(p)) for p in payloads],
        "inline_css": Markup("\n").join(_web_text(n) for n in STYLESHEETS) if single else None,
        "d3_js": inline_script(_web_file("vendor/d3.min.js").read_text(encoding="utf-8")) if single else None,
        "viewer_js": inline_script(bundle_modules(_modules(), ENTRY_MODULE)) if single else None,
    }
    return env.get_template(TEMPLATE).render(context)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _web_file(name: str) -> Traversable:
    return files("ligsite.web").joinpath(name)


def _web_text(name: str) -> Markup:
    text = _web_file(name).read_text(encoding="utf-8")
    if "</style" in text.lower():
        raise SiteError(f"web/{name} contains '</style' and cannot be inlined")
    return Markup(text)


def _modules() -> dict[str, str]:
    """Every viewer ES module by file name."""
    web = files("ligsite.web")
    return {item.name: item.read_text(encoding="utf-8") for item in web.iterdir()
            if item.is_file() and item.name.endswith(".js")}


def _write_data(out: Path, payloads: list[dict], manifest: dict) -> None:
    data = out / "data"
    data.mkdir()
    (data / "manifest.json").write_bytes(orjson.dumps(manifest))
    for payload in payloads:
        (data / f"{payload['id']}.json").write_bytes(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))


def _copy_assets(assets: Path) -> None:
    """Viewer modules and CSS, plus vendor/ (D3 and its licence), from the installed package."""
    (assets / "vendor").mkdir(parents=True)
    web = files("ligsite.web")
    for item in web.iterdir():
        if item.is_file() and item.name.endswith((".js", ".css")):
            (assets / item.name).write_bytes(item.read_bytes())
    for item in web.joinpath("vendor").iterdir():
        if item.is_file():
            (assets / "vendor" / item.name).write_bytes(item.read_bytes())


def _clear_products(out: Path) -> None:
    for name in ("s", "data", "assets"):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    if (out / "index.html").is_file():
        (out / "index.html").unlink()
