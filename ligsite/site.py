"""Write the static site: pages, per-sample data files, viewer assets, or one single file.

Load → validate → write, like a static-site generator: every payload (docs/architecture.md,
schema 1) is checked first, then the manifest is derived, then files are written. Templates stay
dumb: titles, provenance lines and escaped JSON are prepared here. The site code never imports
torch. Two layouts:

- served (default): ``index.html``, ``s/<id>.html``, ``data/manifest.json``, ``data/<id>.json``,
  ``assets/`` (ES modules, CSS, vendored D3 with its licence), ``.ligsite-site.json`` (the marker:
  which files ligsite wrote). All URLs relative. Ids never collide with ``manifest.json``: the
  id ``manifest`` is reserved (samples.py).
- ``single_file``: one ``index.html`` with D3, the viewer bundled into one classic script and
  every payload inlined, because ES modules and fetch do not run from ``file://``.

Injection safety: sentence text reaches HTML only through Jinja autoescaping or JSON inside
``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped as ``\\u003c`` etc.
Configurable links (``site.figures``) are checked after normalising them as a browser does.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jinja2
import orjson
from markupsafe import Markup

import ligsite
from ligsite import diskio
from ligsite.bundle import bundle_modules, inline_script
from ligsite.errors import SiteError
from ligsite.samples import id_problem

SCHEMA = 1
TEMPLATE = "viewer.html.j2"
ENTRY_MODULE = "main.js"
STYLESHEETS = ("viewer.css", "theme.css", "layout.css")  # cascade order: later files override
PAYLOAD_KEYS = ("schema", "id", "text", "tokens", "layers", "maps")
MARKER = ".ligsite-site.json"  # lists the files ligsite wrote: the only ones it replaces or removes
LOCK = ".ligsite-lock"  # held while a render moves its files into the site folder
LINK_SCHEMES = ("http", "https")
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
    analysis: str | None = None  # relative link to the corpus analysis page (`ligsite analyze`), shown in the header
    # the viewer's first view on this site (state keys, e.g. {"norm": "share-noself"}); links keep their own
    defaults: Mapping[str, Any] = field(default_factory=dict)
    citation: str = ""  # how to cite the work the site shows; the viewer's "How to read this" panel


def render_site(payloads: list[dict], out: Path, meta: SiteMeta, single_file: bool = False,
                force: bool = False) -> Path:
    """Write the whole site for ``payloads`` into ``out``; returns the path of ``index.html``.

    Nothing the user had is lost: the site is written into a temporary sibling folder, then
    only ligsite's own files are moved into ``out`` (the ones listed in its marker file
    ``.ligsite-site.json``); anything else there (a CNAME file, ``figures/``) stays. A folder
    that is neither empty nor a ligsite site is refused unless ``force``; a failed write leaves
    the previous site as it was. Two renders into one ``out`` take turns for the final move.
    """
    for payload in payloads:
        check_payload(payload)
    figures = None if meta.figures is None else safe_link(meta.figures, "site.figures", schemes=())
    if not payloads:
        raise SiteError("no samples to render: the site needs at least one payload")
    _check_unique_ids(payloads)
    _check_default_layer(payloads, meta)
    manifest = build_manifest(payloads, meta)
    out = Path(out)
    check_destination(out, force)
    _publish(out, lambda stage: _write_site(stage, payloads, manifest, meta, figures, single_file), force)
    return out / "index.html"


def _check_default_layer(payloads: list[dict], meta: SiteMeta) -> None:
    """A default layer (site.defaults.layer) must be stored for every sample, or a fresh visit
    would open on a "missing layer" notice."""
    layer = meta.defaults.get("layer")
    if not isinstance(layer, int):
        return
    lacking = next((p for p in payloads if layer not in p["layers"]), None)
    if lacking is not None:
        raise SiteError(f"site.defaults.layer {layer} is not stored for sample {lacking['id']}; valid: \"all\", "
                        f"{', '.join(map(str, lacking['layers']))}")


def check_destination(out: Path, force: bool = False) -> None:
    """Raise SiteError unless ligsite may write its site into ``out`` (call it before computing).

    Allowed: a folder that does not exist yet, an empty one (entries named ``.ligsite*``, such as
    the default cache, do not count), or one holding ligsite's marker file; anything else only
    with ``force``, and then only ligsite's own file names are replaced.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SiteError(f"site folder {out} is a file; give -o a folder (new, empty, or a ligsite site)")
    ancestor = next(folder for folder in (out, *out.absolute().parents) if folder.exists())
    problem = diskio.writable_folder_problem(ancestor)
    if problem:
        raise SiteError(f"cannot write the site {out}: {problem}")
    if force or not out.is_dir() or _site_files(out) is not None:
        return
    entries = sorted(entry.name for entry in out.iterdir() if not entry.name.startswith(".ligsite"))  # its own: cache, lock
    if entries:
        raise SiteError(
            f"{out} is not a ligsite site (no {MARKER}) and is not empty (it holds {entries[0]!r}"
            f"{f' and {len(entries) - 1} more' if len(entries) > 1 else ''}); choose a new or empty "
            f"folder, or pass --force to write there (only index.html, s/, data/ and assets/ files "
            f"of the same names are replaced, nothing is deleted)"
        )


def check_payload(payload: dict) -> None:
    """Raise SiteError unless ``payload`` has the schema-1 keys the viewer reads."""
    missing = [key for key in PAYLOAD_KEYS if key not in payload]
    if missing:
        raise SiteError(f"payload {payload.get('id')!r} lacks {', '.join(missing)}; "
                        f"a schema-1 payload has {', '.join(PAYLOAD_KEYS)}")
    if payload["schema"] != SCHEMA:
        raise SiteError(f"payload {payload['id']!r} has schema {payload['schema']!r}; valid: {SCHEMA}")
    problem = id_problem(payload["id"])
    if problem:
        raise SiteError(f"sample {problem}")
    if not payload["maps"]:
        raise SiteError(f"payload {payload['id']!r} has no maps; the viewer needs at least one")
    size = len(payload["tokens"])
    for key, stored in payload["maps"].items():
        if list(stored.get("shape", [])) != [len(payload["layers"]), size, size]:
            raise SiteError(f"map {key!r} of sample {payload['id']!r} has shape {stored.get('shape')}; "
                            f"expected [layers, tokens, tokens] = [{len(payload['layers'])}, {size}, {size}]")


def _check_unique_ids(payloads: list[dict]) -> None:
    """Ids name files, and "Cat" and "cat" are one file on macOS and Windows: unique ignoring case."""
    seen: dict[str, str] = {}
    for count, payload in enumerate(payloads, start=1):
        first = seen.setdefault(payload["id"].lower(), payload["id"])
        if len(seen) < count:  # the key was there already
            raise SiteError(f"sample id {payload['id']!r} appears twice (as {first!r}); ids must be "
                            f"unique, ignoring case, because they name files")


def offered_routes(payloads: list[dict]) -> dict[str, list[Any]]:
    """The union of the payloads' map keys as manifest routes, in order of first appearance."""
    keys = dict.fromkeys(key for payload in payloads for key in payload["maps"])
    direct = [key.split(":", 1)[1] for key in keys if key.startswith("direct:")]
    composed = [key.split(":", 1)[1].split("+") for key in keys if key.startswith("composed:")]
    return {"direct": direct, "composed": composed}


def build_manifest(payloads: list[dict], meta: SiteMeta) -> dict[str, Any]:
    """The site-wide manifest (docs/architecture.md): sample list, provenance, routes."""
    samples = [{"id": p["id"], "text": p["text"], "label": p.get("label"), "n_tokens": len(p["tokens"]),
                "file": f"data/{p['id']}.json"} | _head_files(p) for p in payloads]
    return {"schema": SCHEMA, "title": meta.title, "description": meta.description,
            "provenance": _provenance(meta, payloads), "samples": samples,
            "routes": dict(meta.routes) or offered_routes(payloads)} | ({"defaults": dict(meta.defaults)} if meta.defaults else {}) \
        | ({"citation": meta.citation} if meta.citation else {})


def _head_files(payload: dict) -> dict[str, Any]:
    """The manifest's ``heads`` entry: ATT baseline -> its per-head file (none without head data)."""
    heads = payload.get("heads") or {}
    return {"heads": {att: _head_file(payload["id"], att) for att in heads}} if heads else {}


def _head_file(sample_id: str, att: str) -> str:
    """Where a sample's per-head file lives: a folder of its own, apart from the main payloads."""
    return f"data/heads/{sample_id}.{att}.json"


def _without_heads(payload: dict) -> dict:
    """The main payload: per-head data go to their own files, loaded only by the head view."""
    return {key: value for key, value in payload.items() if key != "heads"}


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
          base: str, payloads: list[dict], figures: str | None = None) -> str:
    """One viewer page; ``sample`` set for s/<id>.html, ``payloads`` inlined in single-file mode."""
    single = bool(payloads)
    page_title = meta.title if sample is None else f"{_clip(sample['text'], 80)} — {meta.title}"
    context = {
        "title": meta.title, "description": meta.description, "page_title": page_title,
        "page_description": meta.description if sample is None else _clip(sample["text"], 300),
        "provenance": [(PROVENANCE_NAMES.get(k, k), v) for k, v in manifest["provenance"].items()],
        "version": ligsite.__version__, "base": base, "figures": _href(figures, base),
        "analysis": _href(meta.analysis, base),
        "sample_id": sample["id"] if sample else "",
        "manifest_json": script_json(manifest), "single_file": single,
        "payloads": [(p["id"], script_json(_without_heads(p))) for p in payloads],
        "head_payloads": [(f"{p['id']}-{att}", script_json(heads)) for p in payloads
                          for att, heads in (p.get("heads") or {}).items()],
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


def _href(link: str | None, base: str) -> str | None:
    """A checked link as the page at ``base`` must write it (http(s) URLs as they are)."""
    if link is None or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", link):
        return link
    return base + link


def safe_link(value: str, what: str, schemes: tuple[str, ...] = LINK_SCHEMES) -> str:
    """``value`` as a browser reads it, if it is a path relative to the site or a ``schemes`` URL.

    Normalised the way a browser does before parsing (WHATWG URL: leading and trailing control
    characters and spaces stripped, tabs and newlines removed anywhere), so " javascript:" and
    "java\\tscript:" are seen for what they are. Raises SiteError naming ``what`` otherwise.
    """
    valid = (f"{what} {value!r} must be relative to the site, e.g. 'figures/index.html'"
             + (f", or an {'/'.join(schemes)} URL" if schemes else ""))
    if not isinstance(value, str):
        raise SiteError(f"{valid}; it is not a string")
    cleaned = re.sub(r"[\t\n\r]", "", value.strip("".join(map(chr, range(0x21)))))
    if not cleaned or re.search(r"[\x00-\x1f\x7f]", cleaned):
        raise SiteError(f"{valid}; it is empty or holds control characters")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", cleaned)
    if scheme and (scheme.group(1).lower() not in schemes or not urlsplit(cleaned).netloc):
        raise SiteError(f"{valid}; as a browser reads it, it is a {scheme.group(1).lower()}: link")
    if not scheme and cleaned.startswith(("/", "\\")):
        raise SiteError(f"{valid}; it starts with {cleaned[0]!r}, so it leaves the site")
    return cleaned


def _write_site(stage: Path, payloads: list[dict], manifest: dict, meta: SiteMeta,
                figures: str | None, single_file: bool) -> list[str]:
    """Every file of the site under ``stage``; returns their paths relative to it (POSIX)."""
    written: list[str] = []

    def put(relative: str, data: bytes) -> None:
        (stage / relative).parent.mkdir(parents=True, exist_ok=True)
        diskio.write_bytes(stage / relative, data)
        written.append(relative)

    env = _environment()
    if single_file:
        put("index.html", _page(env, manifest, meta, None, "", payloads, figures).encode("utf-8"))
        return written
    put("data/manifest.json", orjson.dumps(manifest))
    for payload in payloads:
        put(f"data/{payload['id']}.json", orjson.dumps(_without_heads(payload), option=orjson.OPT_SERIALIZE_NUMPY))
        for att, heads in (payload.get("heads") or {}).items():
            put(_head_file(payload["id"], att), orjson.dumps(heads, option=orjson.OPT_SERIALIZE_NUMPY))
    for name, data in _assets():
        put(f"assets/{name}", data)
    put("index.html", _page(env, manifest, meta, None, "", [], figures).encode("utf-8"))
    for payload in payloads:
        put(f"s/{payload['id']}.html", _page(env, manifest, meta, payload, "../", [], figures).encode("utf-8"))
    return written


def _assets() -> list[tuple[str, bytes]]:
    """Viewer modules and CSS, plus vendor/ (D3 and its licence), from the installed package."""
    web = files("ligsite.web")
    found = [(item.name, item.read_bytes()) for item in web.iterdir()
             if item.is_file() and item.name.endswith((".js", ".css"))]
    return found + [(f"vendor/{item.name}", item.read_bytes()) for item in web.joinpath("vendor").iterdir()
                    if item.is_file()]


def _publish(out: Path, write: Callable[[Path], list[str]], force: bool) -> None:
    """Run ``write`` into a temporary sibling of ``out``, then move its files into ``out``."""
    before = "the previous site is unchanged" if out.is_dir() else "nothing was written"
    target = out.absolute()  # "." has no name; its parent holds the staging folder
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.ligsite-", dir=target.parent))
    except OSError as error:
        raise SiteError(f"cannot write the site {out}: {diskio.reason(error)}") from None
    try:
        try:
            written = write(stage)
        except OSError as error:
            raise SiteError(f"cannot write the site {out}: {diskio.reason(error)}; {before}") from None
        try:
            out.mkdir(exist_ok=True)
            with diskio.locked(out / LOCK):
                check_destination(out, force)  # again: another render may have finished meanwhile
                _swap(stage, out, written, force)
        except OSError as error:
            raise SiteError(f"cannot move the new site into {out}: {diskio.reason(error)}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _swap(stage: Path, out: Path, written: list[str], force: bool) -> None:
    """Move the staged files into ``out``; remove the files of the previous site it no longer has."""
    old, new = _site_files(out) or set(), set(written)
    foreign = sorted(name for name in new - old if os.path.lexists(out / name))
    if foreign and not force:
        raise SiteError(f"{out / foreign[0]} was not written by ligsite and would be replaced; "
                        f"move it away, or pass --force to replace it")
    _write_marker(out, old | new)  # an interruption below leaves every file ligsite placed known
    for name in written:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / name, out / name)
    for name in sorted(old - new):
        (out / name).unlink(missing_ok=True)
        _remove_empty_folders((out / name).parent, out)
    _write_marker(out, new)


def _site_files(out: Path) -> set[str] | None:
    """The files the marker says ligsite wrote into ``out``; None when ``out`` is no ligsite site."""
    try:
        doc = orjson.loads((out / MARKER).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("generator") != "ligsite" or not isinstance(doc.get("files"), list):
        return None
    return {name for name in doc["files"] if isinstance(name, str) and _inside(name)}


def _inside(name: str) -> bool:
    """Whether a marker entry is a plain relative path (a damaged marker must not reach outside)."""
    parts = PurePosixPath(name).parts
    return bool(parts) and not PurePosixPath(name).is_absolute() and ".." not in parts and "\\" not in name


def _write_marker(out: Path, names: set[str]) -> None:
    doc = {"generator": "ligsite", "version": ligsite.__version__, "files": sorted(names)}
    diskio.replace_atomically(out / MARKER, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def _remove_empty_folders(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
