"""The ``ligsite`` command line: thin wrappers that parse options, call one function, print.

Each command mirrors a public function; every ``LigsiteError`` becomes one red line on stderr
and exit status 1, never a traceback.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ligsite.errors import InputError, LigsiteError

app = typer.Typer(
    name="ligsite",
    help="Layer-wise Integrated Gradients for transformers, published as a static site.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a LigsiteError raised by ``command`` into one red line and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():  # e.g. a corrupt cache entry: one yellow line, no source
                warnings.showwarning = _warning_line
                return command(*args, **kwargs)
        except LigsiteError as error:
            typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.secho("interrupted: finished samples stay cached", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(130) from None

    return wrapper


def _warning_line(message: Warning | str, *_: Any, **__: Any) -> None:
    """Show a Python warning as one yellow ``warning:`` line on stderr (no file, no source line)."""
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


# ---- engine commands (explain, boundaries) ----------------------------------------------------
# Each explain option maps to the explain() parameter of the same name (--dtype <-> dtype);
# --baseline-<g> maps to baselines["<g>"]; lists are comma-separated. tests/test_cli_explain.py
# checks the mapping.


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def _csv_ints(value: str | None, option: str) -> list[int] | None:
    try:
        return None if value is None else [int(part) for part in _csv(value) or []]
    except ValueError:
        raise InputError(f"{option} expects comma-separated integers such as 0,5; got {value!r}") from None


def _steps(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise InputError(f"--steps expects a positive integer or 'auto'; got {value!r}") from None


@app.command("explain")
@friendly
def explain_command(
    text: Annotated[str, typer.Argument(help="the sentence to explain", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the JSON here (default: stdout)", show_default=False)] = None,
    model: Annotated[str, typer.Option(help="hub id or local folder")] = "sentence-transformers/all-MiniLM-L6-v2",
    steps: Annotated[str, typer.Option(help="quadrature nodes, or 'auto'")] = "32",
    granularity: Annotated[str, typer.Option(help="'all' or a comma list of att, mlp, layer")] = "all",
    baseline_att: Annotated[str | None, typer.Option(help="comma list (default: all valid)", show_default=False)] = None,
    baseline_mlp: Annotated[str | None, typer.Option(help="comma list (default: all valid)", show_default=False)] = None,
    baseline_layer: Annotated[str | None, typer.Option(help="comma list (default: all valid)", show_default=False)] = None,
    layers: Annotated[str | None, typer.Option(help="block indices, e.g. 0,5 (default: all)", show_default=False)] = None,
    targets: Annotated[str | None, typer.Option(help="token indices, e.g. 1,2 (default: all)", show_default=False)] = None,
    quadrature: Annotated[str, typer.Option(help="gauss-legendre, gauss-legendre-graded or trapezoid-captum")] = "gauss-legendre",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    dtype: Annotated[str, typer.Option(help="IG arithmetic: float32 or float64")] = "float32",
    tolerance: Annotated[float, typer.Option(help="completeness tolerance |ratio - 1|")] = 0.02,
    weights_dtype: Annotated[str, typer.Option(help="the model forward's dtype: auto (CPU: the IG dtype; CUDA: "
                                                    "the checkpoint's), float32, float64, bfloat16, float16")] = "auto",
) -> None:
    """Explain one sentence: LIG attributions as Explanation JSON (docs/explanation-format.md)."""
    import orjson

    from ligsite.api import CompletenessWarning, explain

    if not text.strip():  # both checked before the model loads (the slow part)
        raise InputError(f"text is empty ({text!r}): give at least one word to explain")
    if out is not None:
        _check_output_file(out)
    given = {"att": _csv(baseline_att), "mlp": _csv(baseline_mlp), "layer": _csv(baseline_layer)}
    with warnings.catch_warnings():  # completeness warnings become yellow lines below
        warnings.simplefilter("ignore", CompletenessWarning)
        exp = explain(
            text, model=model, steps=_steps(steps),
            granularity="all" if granularity == "all" else _csv(granularity),
            baselines={g: names for g, names in given.items() if names is not None} or None,
            layers=_csv_ints(layers, "--layers"), targets=_csv_ints(targets, "--targets"),
            quadrature=quadrature, device=device, dtype=dtype, tolerance=tolerance, weights_dtype=weights_dtype,
        )
    for line in exp.warnings:
        typer.secho(f"warning: {line}", fg=typer.colors.YELLOW, err=True)
    if out is None:
        sys.stdout.write(orjson.dumps(exp.to_dict()).decode() + "\n")
        return
    try:
        exp.save(out)  # temporary file + rename: a failed write leaves the previous file as it was
    except OSError as error:
        raise InputError(f"cannot write {out}: {error.strerror or error}; "
                         f"{'the previous file is unchanged' if out.exists() else 'nothing was written'}") from None
    typer.echo(f"wrote {out}: {len(exp.tokens)} tokens, layers {exp.layers}, runs {', '.join(exp.runs)}")


def _check_output_file(out: Path) -> None:
    """Raise InputError unless ``out`` can be written: not a folder, in a writable folder."""
    from ligsite.diskio import writable_folder_problem

    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name such as {out / 'explanation.json'}")
    problem = writable_folder_problem(out.parent)
    if problem:
        raise InputError(f"cannot write --out {out}: {problem}")


@app.command("boundaries")
@friendly
def boundaries_command(
    model: Annotated[str, typer.Argument(help="hub id or local folder")] = "sentence-transformers/all-MiniLM-L6-v2",
    load_weights: Annotated[bool, typer.Option("--load-weights", help="load the model too (checks weights, adds identity)")] = False,
) -> None:
    """Family, block count, sizes, granularities and named boundaries of a model, as JSON."""
    import orjson

    from ligsite.api import describe_boundaries

    info = describe_boundaries(model, load_weights=load_weights)
    sys.stdout.write(orjson.dumps(info, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


# ---- site commands (build, compute, render) ---------------------------------------------------
# Each option maps to the BuildConfig field of the same name (--cache-dir <-> cache_dir); an
# option left out keeps the ligsite.toml value, then the default. Keys: docs/config.md.

SamplesArg = Annotated[Path, typer.Argument(metavar="SAMPLES", help=".txt (one sentence per line) or .jsonl (text, id, label, source)", show_default=False)]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="site folder to write")]
ModelOpt = Annotated[str | None, typer.Option(help="hub id or local folder (default: embedded all-MiniLM-L6-v2)", show_default=False)]
StepsOpt = Annotated[str | None, typer.Option(help="quadrature nodes, or 'auto' (default: auto)", show_default=False)]
QuadratureOpt = Annotated[str | None, typer.Option(help="gauss-legendre, gauss-legendre-graded or trapezoid-captum (default: gauss-legendre)", show_default=False)]
LayersOpt = Annotated[str | None, typer.Option(help="block indices, e.g. 0,5 (default: all)", show_default=False)]
DeviceOpt = Annotated[str | None, typer.Option(help="auto, cpu or cuda (default: auto)", show_default=False)]
DtypeOpt = Annotated[str | None, typer.Option(help="IG arithmetic: float32 or float64 (default: float32)", show_default=False)]
WeightsOpt = Annotated[str | None, typer.Option(help="the model forward's dtype: auto (CPU: the IG dtype; CUDA: the checkpoint's), float32, float64, bfloat16 or float16; part of the cache key (default: auto)", show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="ligsite.toml (default: ./ligsite.toml if present)", show_default=False)]
CacheOpt = Annotated[Path | None, typer.Option(help="precompute cache (default: .ligsite-cache)", show_default=False)]
SingleOpt = Annotated[bool, typer.Option("--single-file", help="one index.html that works from file://")]
ForceOpt = Annotated[bool, typer.Option("--force", help="write into a folder that is not a ligsite site (only ligsite's own file names are replaced)")]
WorkersOpt = Annotated[str | None, typer.Option(help="local processes, or 'auto': one per visible GPU, else 1 (default: 1)", show_default=False)]
ExecutorOpt = Annotated[str | None, typer.Option(help="local or ray (Ray core tasks; pip install 'ligsite[ray]') (default: local)", show_default=False)]
AddressOpt = Annotated[str | None, typer.Option(help="Ray cluster address, e.g. ray://head:10001 (default: a local cluster)", show_default=False)]
BatchOpt = Annotated[str | None, typer.Option(help="sentences per engine call, sharing IG calls where the family allows it, or 'auto' (default: auto)", show_default=False)]


def _site_inputs(samples: Path, config: Path | None, **options: Any) -> tuple[list, Any]:
    """The samples and the BuildConfig: defaults < ligsite.toml < options given."""
    from ligsite.config import load_config, parse_count_or_auto, parse_steps
    from ligsite.samples import read_samples

    options["steps"] = parse_steps(options["steps"])
    options["workers"] = parse_count_or_auto(options.get("workers"), "--workers")
    options["batch_size"] = parse_count_or_auto(options.get("batch_size"), "--batch-size")
    return read_samples(samples), load_config(config, options)


def _compute_and_report(samples: list, settings: Any, shard: str | None = None, keep: bool = True) -> Any:
    """Run compute, print the summary table and one red line per failed sample."""
    from rich.console import Console

    from ligsite.pipeline import run_compute, summary_table
    from ligsite.precompute import Shard

    report = run_compute(samples, settings, shard=Shard.parse(shard) if shard else None, keep=keep)
    Console().print(summary_table(report))
    for failure in report.failures:
        typer.secho(f"error: {failure}", fg=typer.colors.RED, err=True)
    return report


def _check_site_folder(out: Path, force: bool) -> None:
    """Refuse a -o that is not a ligsite site before anything is computed."""
    from ligsite.site import check_destination

    check_destination(out, force)


@app.command()
@friendly
def build(samples: SamplesArg, out: OutOpt = Path("site"), model: ModelOpt = None, steps: StepsOpt = None,
          quadrature: QuadratureOpt = None, layers: LayersOpt = None, device: DeviceOpt = None,
          dtype: DtypeOpt = None, weights_dtype: WeightsOpt = None, config: ConfigOpt = None,
          cache_dir: CacheOpt = None, single_file: SingleOpt = False, force: ForceOpt = False, workers: WorkersOpt = None,
          executor: ExecutorOpt = None, address: AddressOpt = None, batch_size: BatchOpt = None,
          analysis: Annotated[bool, typer.Option("--analysis", help="add the corpus analysis page (`ligsite analyze` into SITE/analysis/; site.analysis in ligsite.toml)")] = False) -> None:
    """Precompute every sample (cached by content) and write the static site: compute + render."""
    from ligsite.pipeline import check_report, render, uncached_line

    items, settings = _site_inputs(samples, config, model=model, steps=steps, quadrature=quadrature,
                                   layers=layers, device=device, dtype=dtype, weights_dtype=weights_dtype,
                                   cache_dir=cache_dir, workers=workers, executor=executor, address=address,
                                   batch_size=batch_size, analysis=analysis or None)
    _check_site_folder(out, force)
    report = _compute_and_report(items, settings)
    check_report(report)
    if uncached_line(report):
        typer.secho(f"warning: {uncached_line(report)}", fg=typer.colors.YELLOW, err=True)
    index = render(items, settings, out, single_file, [report.explanations[s.id] for s in items], force)
    typer.echo(f"wrote {index}")
    if settings.analysis:
        from ligsite.analysis import analyze as analyze_samples

        typer.echo(f"wrote {analyze_samples(items, settings, out / 'analysis').files[-1]}")


@app.command()
@friendly
def compute(samples: SamplesArg, model: ModelOpt = None, steps: StepsOpt = None,
            quadrature: QuadratureOpt = None, layers: LayersOpt = None, device: DeviceOpt = None,
            dtype: DtypeOpt = None, weights_dtype: WeightsOpt = None, config: ConfigOpt = None,
            cache_dir: CacheOpt = None, workers: WorkersOpt = None, executor: ExecutorOpt = None,
            address: AddressOpt = None, batch_size: BatchOpt = None,
            shard: Annotated[str | None, typer.Option(help="i/n: only the samples whose cache key is in shard i of n (merge caches by copying folders)", show_default=False)] = None) -> None:
    """Precompute only: explain every sample the cache lacks and store it there."""
    from ligsite.pipeline import check_cached, check_report

    items, settings = _site_inputs(samples, config, model=model, steps=steps, quadrature=quadrature,
                                   layers=layers, device=device, dtype=dtype, weights_dtype=weights_dtype,
                                   cache_dir=cache_dir, workers=workers, executor=executor, address=address,
                                   batch_size=batch_size)
    report = _compute_and_report(items, settings, shard, keep=False)  # streamed: memory flat in samples
    check_report(report)
    check_cached(report)


@app.command()
@friendly
def render(samples: SamplesArg, out: OutOpt = Path("site"), model: ModelOpt = None, steps: StepsOpt = None,
           quadrature: QuadratureOpt = None, layers: LayersOpt = None, device: DeviceOpt = None,
           dtype: DtypeOpt = None, weights_dtype: WeightsOpt = None, config: ConfigOpt = None,
           cache_dir: CacheOpt = None, single_file: SingleOpt = False, force: ForceOpt = False,
           explanations: Annotated[Path | None, typer.Option(help="folder of Explanation JSON files made elsewhere (matched by text)", show_default=False)] = None) -> None:
    """Site only: render from the cache (run `ligsite compute` first) or from --explanations."""
    from ligsite.pipeline import load_explanations, render as render_samples

    items, settings = _site_inputs(samples, config, model=model, steps=steps, quadrature=quadrature,
                                   layers=layers, device=device, dtype=dtype, weights_dtype=weights_dtype,
                                   cache_dir=cache_dir)
    _check_site_folder(out, force)
    given = load_explanations(items, explanations) if explanations is not None else None
    typer.echo(f"wrote {render_samples(items, settings, out, single_file, given, force)}")


@app.command()
@friendly
def analyze(samples: SamplesArg,
            out: Annotated[Path, typer.Option("--out", "-o", help="folder for the CSV files and analysis.html")] = Path("analysis"),
            config: ConfigOpt = None, cache_dir: CacheOpt = None) -> None:
    """Corpus analysis: direct vs composed z→z per layer and baseline triple, as CSV files (docs/analysis.md)."""
    from rich.console import Console

    from ligsite.analysis import analyze as analyze_samples, headline_table

    items, settings = _site_inputs(samples, config, steps=None, cache_dir=cache_dir)
    report = analyze_samples(items, settings, out)
    Console().print(headline_table(report))
    if report.degenerate:
        typer.secho(f"note: {len(report.degenerate)} samples have a layer with no defined Pearson (e.g. "
                    f"{report.degenerate[0]}); they are counted in the *_undefined columns, not averaged in",
                    fg=typer.colors.YELLOW, err=True)
    typer.echo(f"wrote {', '.join(path.name for path in report.files)} to {out}")


# ---- cache commands (cache ls, verify, prune) -------------------------------------------------
# States of an entry (ok, stale, legacy, damaged) and what prune removes: docs/cache.md.

cache_app = typer.Typer(help="Inspect and clean a precompute cache: `cache ls`, `cache verify`, `cache prune` (docs/cache.md).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")
CacheDirOpt = Annotated[Path, typer.Option("--cache-dir", help="the cache folder")]


@cache_app.command("ls")
@friendly
def cache_ls(cache_dir: CacheDirOpt = Path(".ligsite-cache"),
             long: Annotated[bool, typer.Option("--long", "-l", help="one row per entry")] = False) -> None:
    """What the cache holds: entries grouped by model, settings and version, or one row each."""
    from rich.console import Console

    from ligsite.cache_admin import scan

    result = scan(cache_dir)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log or a pipe: room for model identities, not 80 columns
    console.print(_entries_table(result) if long else _groups_table(result))
    typer.echo(result.line())


def _groups_table(result: Any) -> Any:
    from rich.table import Table

    from ligsite.cache_admin import groups

    table = Table(title=f"ligsite cache {result.root}", title_justify="left")
    for name in ("status", "model", "steps", "quadrature", "dtype", "layers", "ligsite/engine", "entries", "MB"):
        table.add_column(name, overflow="fold")
    for group, count, size in groups(result):
        table.add_row(*group, str(count), f"{size / 1e6:.1f}")
    return table


def _entries_table(result: Any) -> Any:
    from rich.table import Table

    table = Table(title=f"ligsite cache {result.root}", title_justify="left")
    for name in ("key", "status", "model", "steps", "tokens", "text"):
        table.add_column(name, overflow="fold")
    for entry in result.entries:
        fields = entry.fields or {}
        table.add_row(entry.path.stem[:12], entry.status + (f" ({entry.reason})" if entry.reason else ""),
                      str(fields.get("model", "")), str(fields.get("steps", "")), str(entry.tokens or ""), entry.text[:50])
    return table


@cache_app.command("verify")
@friendly
def cache_verify(cache_dir: CacheDirOpt = Path(".ligsite-cache")) -> None:
    """Read every entry and check it against its checksum and key; exit 1 if any is damaged."""
    from ligsite.cache_admin import scan, verify_problems
    from ligsite.errors import CacheError

    result = scan(cache_dir)
    problems = verify_problems(result)
    for line in problems:
        typer.secho(f"damaged: {line}", fg=typer.colors.RED, err=True)
    typer.echo(result.line())
    if problems:
        raise CacheError(f"{len(problems)} damaged entries in {cache_dir}; `ligsite cache prune` removes them "
                         f"(a build recomputes them anyway)")


@cache_app.command("prune")
@friendly
def cache_prune(cache_dir: CacheDirOpt = Path(".ligsite-cache"),
                legacy: Annotated[bool, typer.Option("--legacy", help="also remove intact entries written before entries had records")] = False,
                dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go, remove nothing")] = False) -> None:
    """Remove damaged entries, entries of other ligsite/engine versions and dead writers' temporary files."""
    from ligsite.cache_admin import prune

    report = prune(cache_dir, legacy=legacy, dry_run=dry_run)
    for path, status in report.removed:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {path} ({status})")
    typer.echo(report.line())


# ---- publishing commands (serve, figures) -----------------------------------------------------


@app.command()
@friendly
def serve(
    site: Annotated[Path, typer.Argument(help="a built site folder (the -o of `ligsite build`)")],
    port: Annotated[int, typer.Option(help="port on 127.0.0.1; 0 picks a free one")] = 8000,
) -> None:
    """Preview a built site at http://127.0.0.1:PORT/ until Ctrl-C."""
    from ligsite.serve import serve as serve_site

    serve_site(site, port)


@app.command()
@friendly
def figures(
    spec: Annotated[Path, typer.Argument(help="figures TOML (keys: docs/figures.md)")],
    site: Annotated[Path, typer.Option("--site", help="the built site to draw from")] = Path("site"),
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the SVG/PNG files")] = Path("figures"),
) -> None:
    """Render publication figures through the built viewer's own export (headless Chromium)."""
    from ligsite.figures import render_figures

    written = render_figures(spec, site, out)
    typer.echo(f"wrote {len(written)} files to {out}")


def main() -> None:  # pragma: no cover - console entry point
    app(sys.argv[1:])
