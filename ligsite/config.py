"""The build configuration: what to compute for every sample and how to title the site.

One frozen dataclass, each field defined once with its default and help. Values come from, in
order of precedence: CLI options, then an optional ``ligsite.toml`` (``--config``, else the
one in the current directory), then the defaults below. The defaults make
``ligsite build examples/samples.txt`` run offline with the embedded MiniLM. Keys are documented
in docs/config.md; an unknown key is an error naming the valid ones.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ligsite.errors import InputError, LigsiteError
from ligsite.explanation import BASELINES
from ligsite.lig.quadrature import QUADRATURES

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CONFIG_FILE = "ligsite.toml"
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")
WEIGHTS_DTYPES = ("auto", "float32", "float64", "bfloat16", "float16")  # = models.loading's (torch-free copy; tested)
EXECUTORS = ("local", "ray")
# the most quadrature nodes per target: auto's ceiling too (ligsite.lig.completeness.AUTO_CAP);
# every node of every target is one batched call, so memory grows with steps × tokens²
MAX_STEPS = 1024
# the baselines each route offers in the viewer: the engine's own registry (METHOD.md, "Baselines")
LAYER_BASELINES, ATT_BASELINES, MLP_BASELINES = BASELINES["layer"], BASELINES["att"], BASELINES["mlp"]
# [site.defaults]: the viewer's first view on a fresh visit (links keep their own state). Keys as the
# figures spec spells them, each with its viewer state key (web/state.js) and its valid values
# (None: checked elsewhere: baselines against the routes offered, layer against the data).
SITE_DEFAULT_KEYS: dict[str, tuple[str, tuple[Any, ...] | None]] = {
    "route": ("route", ("direct", "composed")),
    "layer": ("layer", None),
    "layer_baseline": ("layerBaseline", None),
    "att_baseline": ("attBaseline", None),
    "mlp_baseline": ("mlpBaseline", None),
    "norm": ("norm", ("raw", "share", "share-noself")),
    "hide_self": ("hideSelf", (True, False)),
    "rank_self": ("rankSelf", (True, False)),
    "axis": ("axis", ("token", "word")),
    "word_agg": ("wordAgg", ("sum", "mean")),
    "scale": ("scale", ("shared", "layer")),
    "theme": ("theme", ("auto", "light", "dark")),
}


@dataclass(frozen=True)
class BuildConfig:
    """Everything ``compute`` and ``render`` need besides the samples themselves."""

    model: str = field(default=DEFAULT_MODEL, metadata={"help": "hub id or local folder"})
    steps: int | str = field(
        default="auto",  # 32 Gauss-Legendre nodes leave up to ~15% error on some zero paths
        metadata={"help": "quadrature nodes, or 'auto' (from 32, doubled where completeness misses)"},
    )
    quadrature: str = field(default="gauss-legendre", metadata={"help": ", ".join(QUADRATURES)})
    layers: tuple[int, ...] | None = field(default=None, metadata={"help": "block indices; all if unset"})
    device: str = field(default="auto", metadata={"help": ", ".join(DEVICES)})
    dtype: str = field(default="float32", metadata={"help": "IG arithmetic: " + ", ".join(DTYPES)})
    weights_dtype: str = field(default="auto", metadata={"help": "the model forward's dtype: " + ", ".join(WEIGHTS_DTYPES)
                               + " (auto: the IG dtype on CPU, the checkpoint's on CUDA)"})
    layer_baselines: tuple[str, ...] = field(
        default=LAYER_BASELINES, metadata={"help": "direct z→z baselines"}
    )
    composed: tuple[tuple[str, str], ...] = field(
        default=tuple(itertools.product(ATT_BASELINES, MLP_BASELINES)),
        metadata={"help": "composed z→z (att, mlp) baseline pairs"},
    )
    title: str = field(default="ligsite", metadata={"help": "site title"})
    description: str = field(default="", metadata={"help": "one paragraph under the title"})
    figures: str | None = field(default=None, metadata={"help": "relative link to a figures page, e.g. figures/index.html"})
    analysis: bool = field(default=False, metadata={"help": "add the corpus analysis page (analysis/analysis.html, docs/analysis.md) to the site"})
    citation: str = field(default="", metadata={"help": "how to cite the work, shown in the viewer's \"How to read this\" panel"})
    site_defaults: tuple[tuple[str, Any], ...] = field(
        default=(), metadata={"help": "the viewer's first view: (key, value) pairs of SITE_DEFAULT_KEYS"})
    cache_dir: Path = field(default=Path(".ligsite-cache"), metadata={"help": "precompute cache"})
    # where compute runs (never part of a cache key). The numbers do not depend on it, except that
    # on CUDA batch_size changes which sentences share a call and so the numbers, to rounding
    # (tests/test_batching.py bounds it at 1e-5 relative on CUDA; a CPU runs one sentence at a time
    # under "auto"): deliberately not in the key, so a cache filled at any batch size serves all
    workers: int | str = field(default=1, metadata={"help": "local processes, or 'auto' (one per visible GPU, else 1)"})
    executor: str = field(default="local", metadata={"help": ", ".join(EXECUTORS) + " (Ray core tasks, `pip install 'ligsite[ray]'`)"})
    address: str | None = field(default=None, metadata={"help": "Ray cluster address, e.g. ray://head:10001 (default: a local cluster)"})
    batch_size: int | str = field(default="auto", metadata={"help": "sentences per engine call sharing IG calls, or 'auto' (on CUDA up to 16, within its memory budget; on a CPU 1)"})

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def viewer_defaults(self) -> dict[str, Any]:
        """``site_defaults`` as the viewer's state keys and values (flags as 1 / 0)."""
        return {SITE_DEFAULT_KEYS[key][0]: int(value) if isinstance(value, bool) else value
                for key, value in self.site_defaults}

    @property
    def baselines(self) -> dict[str, list[str]]:
        """The ``baselines`` argument of ``explain``: one call computes every map the site shows."""
        return {
            "att": _unique(att for att, _ in self.composed),
            "mlp": _unique(mlp for _, mlp in self.composed),
            "layer": list(self.layer_baselines),
        }


# ligsite.toml layout: top-level keys, a [baselines] table and a [site] table
TOML_KEYS: dict[str, dict[str, str]] = {
    "": {"model": "model", "steps": "steps", "quadrature": "quadrature", "layers": "layers",
         "device": "device", "dtype": "dtype", "weights_dtype": "weights_dtype", "cache_dir": "cache_dir", "workers": "workers",
         "executor": "executor", "address": "address", "batch_size": "batch_size"},
    "baselines": {"layer": "layer_baselines", "composed": "composed"},
    "site": {"title": "title", "description": "description", "figures": "figures", "analysis": "analysis",
             "citation": "citation", "defaults": "site_defaults"},
}


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> BuildConfig:
    """Defaults, then ``path`` (or ./ligsite.toml if present), then non-None ``overrides``."""
    values: dict[str, Any] = {}
    if path is None and Path(CONFIG_FILE).is_file():
        path = Path(CONFIG_FILE)
    if path is not None:
        values.update(_read_toml(Path(path)))
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return _coerce(BuildConfig(), values, str(path or "options"))


def read_toml(path: Path, what: str, error: type[LigsiteError]) -> dict[str, Any]:
    """A TOML file's table; a missing or unparsable file is one ``error`` naming ``what``."""
    if path.is_dir():
        raise error(f"{what} {path} is a folder; give the TOML file itself, e.g. {path / CONFIG_FILE}")
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{what} {path} is not valid TOML: {problem}") from None
    except OSError as problem:
        raise error(f"cannot read {what} {path}: {problem.strerror or problem}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's values under BuildConfig field names; unknown keys and tables are errors."""
    data = read_toml(path, "config file", InputError)
    values: dict[str, Any] = {}
    for key, value in data.items():
        table = key if isinstance(value, dict) else ""
        items = value.items() if isinstance(value, dict) else [(key, value)]
        if table not in TOML_KEYS:
            raise InputError(f"{path}: unknown table [{key}]; valid: {_valid_keys()}")
        for name, item in items:
            if name not in TOML_KEYS[table]:
                dotted = f"{table}.{name}" if table else name
                raise InputError(f"{path}: unknown key {dotted!r}; valid: {_valid_keys()}")
            values[TOML_KEYS[table][name]] = item
    return values


def _valid_keys() -> str:
    return ", ".join(f"{table}.{key}" if table else key for table, keys in TOML_KEYS.items() for key in keys)


def _coerce(base: BuildConfig, values: dict[str, Any], where: str) -> BuildConfig:
    """Turn TOML / CLI values (lists, strings) into the dataclass's types, then validate."""
    if "layers" in values and values["layers"] is not None:
        values["layers"] = _int_tuple(values["layers"], where)
    if "layer_baselines" in values:
        values["layer_baselines"] = tuple(_unique(_str_list(values["layer_baselines"], "baselines.layer", where)))
    if "composed" in values:
        pairs = [_pair(item, where) for item in _list(values["composed"], "baselines.composed", where)]
        values["composed"] = tuple(_unique(pairs))
    if "cache_dir" in values:
        values["cache_dir"] = _folder(values["cache_dir"], "cache_dir", where)
    if "site_defaults" in values:
        values["site_defaults"] = _site_defaults(values["site_defaults"], where)
    for name in ("model", "quadrature", "device", "dtype", "weights_dtype", "title", "description", "figures", "executor",
                 "address", "citation"):
        if name in values and not isinstance(values[name], str):
            raise InputError(f"{where}: {name} must be a string, got {values[name]!r}")
    if "analysis" in values and not isinstance(values["analysis"], bool):
        raise InputError(f"{where}: site.analysis must be true or false, got {values['analysis']!r}")
    return replace(base, **values)


def _site_defaults(value: Any, where: str) -> tuple[tuple[str, Any], ...]:
    """[site.defaults] as (key, value) pairs, each key known and each value one of its choices."""
    if not isinstance(value, dict):
        raise InputError(f"{where}: site.defaults must be a table such as {{ norm = \"share-noself\" }}, got {value!r}")
    for key, item in value.items():
        if key not in SITE_DEFAULT_KEYS:
            raise InputError(f"{where}: unknown key 'site.defaults.{key}'; valid: {', '.join(SITE_DEFAULT_KEYS)}")
        choices = SITE_DEFAULT_KEYS[key][1]
        if key == "layer":
            if item != "all" and (not isinstance(item, int) or isinstance(item, bool) or item < 0):
                raise InputError(f"{where}: site.defaults.layer must be \"all\" or a block index >= 0, got {item!r}")
        elif choices is None:
            if not isinstance(item, str):
                raise InputError(f"{where}: site.defaults.{key} must be a baseline name (a string), got {item!r}")
        elif item not in choices or isinstance(item, bool) != isinstance(choices[0], bool):
            shown = ", ".join("true" if c is True else "false" if c is False else str(c) for c in choices)
            raise InputError(f"{where}: site.defaults.{key} {item!r} is not valid; valid: {shown}")
    return tuple(value.items())


def _folder(value: Any, key: str, where: str) -> Path:
    """A folder option: a non-empty path string (TOML) or a Path (CLI)."""
    if isinstance(value, Path) or (isinstance(value, str) and value.strip()):
        return Path(value)
    raise InputError(f"{where}: {key} must be a folder path string such as \".ligsite-cache\", got {value!r}")


def _list(value: Any, key: str, where: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{where}: {key} must be a list, got {value!r}")
    return list(value)


def _str_list(value: Any, key: str, where: str) -> list[str]:
    items = _list(value, key, where)
    if not all(isinstance(item, str) for item in items):
        raise InputError(f"{where}: {key} must be a list of strings, got {value!r}")
    return items


def _pair(item: Any, where: str) -> tuple[str, str]:
    """A composed pair: ["att", "mlp"] or "att+mlp"."""
    if isinstance(item, str) and item.count("+") == 1:
        item = item.split("+")
    if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
        raise InputError(f"{where}: a composed pair is [\"<att>\", \"<mlp>\"] or \"<att>+<mlp>\", got {item!r}")
    return (item[0], item[1])


def _int_tuple(value: Any, where: str) -> tuple[int, ...]:
    """Layers as a list of ints or a comma-separated string such as "0,5"."""
    if isinstance(value, str):
        try:
            return tuple(int(part) for part in value.split(",") if part.strip())
        except ValueError:
            raise InputError(f"{where}: layers must be comma-separated block indices like 0,5; got {value!r}") from None
    items = _list(value, "layers", where)
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
        raise InputError(f"{where}: layers must be a list of block indices, got {value!r}")
    return tuple(items)


def _validate(config: BuildConfig) -> None:
    """Every value against its valid choices (the model's own limits are the engine's to check)."""
    _choice("quadrature", config.quadrature, QUADRATURES)
    _choice("device", config.device, DEVICES)
    _choice("dtype", config.dtype, DTYPES)
    _choice("weights_dtype", config.weights_dtype, WEIGHTS_DTYPES)
    _choice("executor", config.executor, EXECUTORS)
    for name in ("workers", "batch_size"):
        value = getattr(config, name)
        if value != "auto" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InputError(f"{name} must be a positive integer or 'auto', got {value!r}")
    steps = config.steps
    if steps != "auto" and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise InputError(f"steps must be a positive integer or 'auto', got {steps!r}")
    if steps != "auto" and steps > MAX_STEPS:
        raise InputError(steps_limit(steps))
    if config.figures is not None:
        from ligsite.errors import SiteError
        from ligsite.site import safe_link

        try:
            safe_link(config.figures, "site.figures", schemes=())
        except SiteError as error:
            raise InputError(str(error)) from None
    if config.layers is not None and (not config.layers or min(config.layers) < 0):
        raise InputError(f"layers must be non-negative block indices, got {list(config.layers)}")
    for baseline in config.layer_baselines:
        _choice("baselines.layer entry", baseline, LAYER_BASELINES)
    for att, mlp in config.composed:
        _choice("composed att baseline", att, ATT_BASELINES)
        _choice("composed mlp baseline", mlp, MLP_BASELINES)
    if not config.layer_baselines and not config.composed:
        raise InputError("nothing to compute: baselines.layer and baselines.composed are both empty")
    _validate_site_defaults(config)


def _validate_site_defaults(config: BuildConfig) -> None:
    """The default view's baselines must be ones the site offers, and its layer one it computes."""
    given = dict(config.site_defaults)
    if "layer_baseline" in given and config.layer_baselines:  # a route the model lacks is dropped, not an error
        _choice("site.defaults.layer_baseline", given["layer_baseline"], tuple(config.layer_baselines))
    atts = tuple(_unique(att for att, _ in config.composed))
    if "att_baseline" in given and atts:
        _choice("site.defaults.att_baseline", given["att_baseline"], atts)
    if "mlp_baseline" in given and atts:
        att = given.get("att_baseline", atts[0])
        _choice(f"site.defaults.mlp_baseline (with att baseline {att})", given["mlp_baseline"],
                tuple(mlp for a, mlp in config.composed if a == att))
    layer = given.get("layer")
    if isinstance(layer, int) and config.layers is not None and layer not in config.layers:
        raise InputError(f"site.defaults.layer {layer} is not a computed layer; valid: \"all\", "
                         f"{', '.join(map(str, config.layers))}")


def _choice(what: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise InputError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


def _unique(items: Any) -> list[Any]:
    return list(dict.fromkeys(items))


def steps_limit(steps: int) -> str:
    """The message for too many nodes (shared with ``explain``)."""
    return (f"steps {steps} is more than {MAX_STEPS}, the most ligsite runs (auto's ceiling too): every node of "
            f"every target is computed in one batch, so memory grows with steps; use --steps auto or at most {MAX_STEPS}")


def parse_steps(value: str | None) -> int | str | None:
    """CLI --steps: an integer or 'auto'."""
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise InputError(f"--steps must be a positive integer or 'auto', got {value!r}") from None


def parse_count_or_auto(value: str | None, option: str) -> int | str | None:
    """A CLI count such as --workers or --batch-size (``option``, named in the error): an
    integer or 'auto' (``_validate`` checks that it is positive)."""
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{option} must be a positive integer or 'auto', got {value!r}") from None
