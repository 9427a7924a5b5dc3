"""The site pipeline behind ``ligsite build / compute / render``: gather, validate, compute, write.

Reads top to bottom like a static-site generator: read the samples and the config, fit the
routes to the model, explain what the cache lacks, turn Explanations into payloads, and hand
them to ``site.render_site``. The CLI only parses options and prints what these return.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from ligsite.config import BuildConfig
from ligsite.errors import CacheError, ComputeFailed, SamplesError
from ligsite.payload import head_payloads, provenance, to_payload
from ligsite.precompute import ComputeReport, Shard, cached, compute, fit_to_model
from ligsite.samples import Sample

if TYPE_CHECKING:  # pragma: no cover
    from ligsite.explanation import Explanation
    from ligsite.site import SiteMeta


def run_compute(samples: list[Sample], config: BuildConfig, progress: bool = True, shard: Shard | None = None,
                keep: bool = True) -> ComputeReport:
    """Explain every uncached sample (routes fitted to the model); the report says what happened.

    ``shard``: only that shard's samples; ``keep=False``: hold no Explanation in memory.
    """
    return compute(samples, fit_to_model(config), progress=progress, shard=shard, keep=keep)


def check_report(report: ComputeReport) -> None:
    """Raise one ComputeFailed line when any sample failed (each failure is in the report)."""
    if report.failures:
        done = report.samples - len(report.failures)
        raise ComputeFailed(
            f"{len(report.failures)} of {report.samples} samples failed ({done} done and cached); "
            f"fix or remove the failed ones and run again"
        )


def uncached_line(report: ComputeReport) -> str:
    """One sentence for samples computed but not stored in the cache ("" when all were stored)."""
    if not report.uncached:
        return ""
    return (f"{len(report.uncached)} of {report.computed} computed samples could not be cached "
            f"({report.cache_problem}); they are kept in memory for this build only and will be "
            f"computed again next time")


def check_cached(report: ComputeReport) -> None:
    """``compute`` exists to fill the cache: samples it could not store are an error."""
    if report.uncached:
        raise CacheError(f"{len(report.uncached)} of {report.computed} computed samples could not be cached "
                         f"({report.cache_problem}); free space or fix the cache folder's permissions "
                         f"(or give another --cache-dir) and run again")


def render(
    samples: list[Sample],
    config: BuildConfig,
    out: Path,
    single_file: bool = False,
    explanations: list[Explanation] | None = None,
    force: bool = False,
) -> Path:
    """Write the site for ``samples``: from ``explanations`` if given, else from the cache."""
    from ligsite.site import render_site

    if explanations is None:
        config = fit_to_model(config)
        explanations = cached(samples, config)
    else:
        config = fit_to_explanations(config, explanations)
    payloads = [to_payload(exp, sample, config) | {"heads": head_payloads(exp, config)}  # heads: own files
                for sample, exp in zip(samples, explanations)]
    return render_site(payloads, Path(out), site_meta(config, explanations[0]), single_file, force)


def site_meta(config: BuildConfig, first: Explanation) -> SiteMeta:
    """Title, description, provenance and the routes the viewer offers (from ``config``)."""
    from ligsite.site import SiteMeta

    info = provenance(first)
    return SiteMeta(
        title=config.title,
        description=config.description,
        figures=config.figures,
        analysis="analysis/analysis.html" if config.analysis else None,  # written by build --analysis
        defaults=config.viewer_defaults, citation=config.citation,  # [site.defaults], site.citation
        provenance={key: info[key] for key in ("model", "steps", "quadrature", "dtype", "ligsite")},
        routes={"direct": list(config.layer_baselines), "composed": [list(pair) for pair in config.composed]},
    )


def fit_to_explanations(config: BuildConfig, explanations: list[Explanation]) -> BuildConfig:
    """Drop routes that some explanation lacks entirely (e.g. composed for a block-only model)."""
    has_layer = all("layer" in exp.granularities for exp in explanations)
    has_composed = all("composed" in exp.granularities for exp in explanations)
    return replace(
        config,
        layer_baselines=config.layer_baselines if has_layer else (),
        composed=config.composed if has_composed else (),
    )


def load_explanations(samples: list[Sample], directory: Path) -> list[Explanation]:
    """The Explanation JSON files in ``directory``, matched to ``samples`` by their text."""
    from ligsite.cache import inconsistency
    from ligsite.explanation import Explanation

    directory = Path(directory)
    if not directory.is_dir():
        raise SamplesError(f"--explanations {directory} is not a directory of Explanation JSON files")
    by_text: dict[str, Explanation] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            exp = Explanation.load(path)
            problem = inconsistency(exp)
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            raise SamplesError(f"{path} is not an Explanation JSON file ({error})") from None
        if problem:
            raise SamplesError(f"{path} is not a usable Explanation ({problem})")
        by_text.setdefault(exp.text, exp)
    missing = [sample for sample in samples if sample.text not in by_text]
    if missing:
        first = missing[0]
        raise SamplesError(
            f"{len(missing)} samples have no Explanation in {directory}, e.g. {first.id} (line "
            f"{first.line}: {first.text[:60]!r}); save one with `ligsite explain TEXT -o FILE.json`"
        )
    return [by_text[sample.text] for sample in samples]


def summary_table(report: ComputeReport) -> Table:
    """The end-of-compute summary: counts, time, and the worst completeness ratio."""
    table = Table(title="ligsite compute", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    target = "(n−1)/n" if report.quadrature == "trapezoid-captum" else "1"
    worst = "n/a" if report.worst_completeness is None else f"|ratio − {target}| = {report.worst_completeness:.4f}"
    rows = [
        ("samples", str(report.samples) + (f" (shard {report.shard})" if report.shard else "")),
        ("computed", str(report.computed)),
        ("cache hits", str(report.cache_hits)),
        ("failed", str(len(report.failures))),
        ("tokens", str(report.tokens)),
        ("time", f"{report.seconds:.1f} s"),
        ("worst completeness", worst + (f" ({report.worst_where})" if report.worst_where else "")),
    ]
    for what, value in rows:
        table.add_row(what, value)
    return table
