"""analysis.html (`ligsite build --analysis`): renders offline with no console error, every curve
point is the summary.csv number, and every best-pairs link opens the viewer in the stated state.

One real site per module: `ligsite build --analysis` in-process on a 2-layer tiny random BERT
(three sentences, 2 nodes). Pages are opened through the `viewer` fixture, which fails a test on
a console error, a page error or any request to another host.
"""

from __future__ import annotations

import csv
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pytest

from conftest import run_cli
from jsunit import served

CONFIG = """
steps = 2
device = "cpu"
[baselines]
layer = ["zero", "self_input_token"]
composed = [["zero", "zero"], ["self_input_token", "att_itb_a0"], ["itb_map_ratio", "zero"]]
"""
SVG = "{http://www.w3.org/2000/svg}"
SENTENCES = ["The cat sat on the mat.", "Unbelievably, the pamphlet sold out.", "Dogs bark."]


@pytest.fixture(scope="module")
def analysis_site(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir) -> Path:
    folder = tmp_path_factory.mktemp("analysis-site")
    (folder / "samples.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    (folder / "ligsite.toml").write_text(CONFIG, encoding="utf-8")
    run_cli("build", str(folder / "samples.txt"), "--model", str(tiny_model_dir("bert")), "--config",
            str(folder / "ligsite.toml"), "--cache-dir", str(folder / "cache"), "-o", str(folder / "site"), "--analysis")
    return folder / "site"


@pytest.fixture(scope="module")
def analysis_url(analysis_site: Path) -> Iterator[str]:
    with served(analysis_site) as url:
        yield url


def summary(site: Path) -> list[dict[str, str]]:
    with (site / "analysis" / "summary.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def open_page(viewer, url: str) -> None:
    viewer.page.goto(url)
    viewer.page.evaluate("() => window.ligsiteAnalysis.ready")


def drawn_points(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll("svg[data-metric] circle.point")].map((c) => {
        const svg = c.closest("svg"), curve = c.closest("g.curve");
        return {axis: svg.dataset.axis, metric: svg.dataset.metric, layer_baseline: svg.dataset.layerBaseline,
                pair: curve.dataset.pair, layer: c.dataset.layer, mean: c.dataset.mean,
                q25: c.dataset.q25 ?? null, q75: c.dataset.q75 ?? null};
    })""")


def test_the_site_header_links_the_analysis_page(analysis_site: Path) -> None:
    html = (analysis_site / "index.html").read_text(encoding="utf-8")
    assert '<a href="analysis/analysis.html">Corpus analysis</a>' in html
    assert '<a href="../analysis/analysis.html">' in next((analysis_site / "s").iterdir()).read_text(encoding="utf-8")


def test_analysis_page_renders_offline_with_no_console_error(viewer, analysis_url: str, analysis_site: Path) -> None:
    open_page(viewer, analysis_url + "analysis/analysis.html")
    assert viewer.page.locator("svg[data-metric]").count() == 3 * 2  # metrics × direct baselines
    assert viewer.page.locator("table.best-pairs tbody tr").count() == 2 * 3 * 2 * 3  # direct × layers × criteria × top 3
    open_page(viewer, (analysis_site / "analysis" / "analysis.html").as_uri())  # one file: works from file:// too
    assert viewer.page.locator("circle.point").count() > 0


@pytest.mark.parametrize("axis", ["token", "word"])
def test_every_curve_point_is_the_summary_csv_number(viewer, analysis_url: str, analysis_site: Path, axis: str) -> None:
    open_page(viewer, analysis_url + "analysis/analysis.html")
    viewer.page.evaluate("(axis) => window.ligsiteAnalysis.setAxis(axis)", axis)
    rows = {(r["layer_baseline"], f"{r['att_baseline']}+{r['mlp_baseline']}", r["layer"]): r
            for r in summary(analysis_site) if r["axis"] == axis and r["layer"] != "all"}
    points = drawn_points(viewer.page)
    assert len(points) == 3 * len(rows)  # every metric of every (triple, layer) row, nothing else
    for point in points:
        assert point["axis"] == axis
        row = rows[(point["layer_baseline"], point["pair"], point["layer"])]
        for stat in ("mean", "q25", "q75"):
            assert float(point[stat]) == pytest.approx(float(row[f"{point['metric']}_{stat}"]), rel=1e-12), (point, stat)


def test_each_table_link_opens_the_viewer_in_the_stated_state(viewer, analysis_url: str) -> None:
    open_page(viewer, analysis_url + "analysis/analysis.html")
    links = viewer.page.eval_on_selector_all("a.viewer-link", "(as) => as.map((a) => a.href)")
    assert len(links) == 2 * 3 * 2 * 3
    for link in dict.fromkeys(links):  # each distinct state once
        stated = dict(parse_qsl(urlsplit(link).fragment))
        viewer.page.goto("about:blank")  # a fresh load: a hash change alone would not reload the viewer
        viewer.page.goto(link)
        viewer.page.evaluate("() => window.ligsite.ready")
        state = viewer.state()
        assert state["sample"] == stated["sample"] and state["route"] == "composed"
        assert [state["layerBaseline"], state["attBaseline"], state["mlpBaseline"]] == \
            [stated["layerBaseline"], stated["attBaseline"], stated["mlpBaseline"]]
        assert str(state["layer"]) == stated["layer"] and state["axis"] == "token"
        assert viewer.page.locator("canvas").count() > 0  # maps are drawn


def download(page, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


@pytest.mark.parametrize(("metric", "layer_baseline"), [("pearson", "zero"), ("rel", "self_input_token")])
def test_a_plot_exports_a_standalone_svg_of_the_csv_numbers_and_its_png(viewer, analysis_url: str, analysis_site: Path,
                                                                        metric: str, layer_baseline: str) -> None:
    open_page(viewer, analysis_url + "analysis/analysis.html")
    page = viewer.page
    page.select_option("#axis", "word")  # the export follows the page's axis
    buttons = f'button[data-metric="{metric}"][data-layer-baseline="{layer_baseline}"]'
    name, data = download(page, f'{buttons}[data-export="svg"]')
    svg = data.decode("utf-8")
    assert name == f"ligsite-analysis-{metric}-{layer_baseline}-word.svg"
    assert svg == page.evaluate("(p) => window.ligsiteAnalysis.exportSVG(p)", {"metric": metric, "layerBaseline": layer_baseline})
    root = ET.fromstring(svg)
    assert root.get("font-family") == "Helvetica, Arial, sans-serif" and "currentColor" not in svg  # inlined, no CSS needed
    assert next(root.iter(f"{SVG}rect")).get("fill") == "#ffffff" and "http" not in svg.replace(SVG[1:-1], "")
    rows = {(r["att_baseline"] + "+" + r["mlp_baseline"], r["layer"]): r for r in summary(analysis_site)
            if r["axis"] == "word" and r["layer_baseline"] == layer_baseline and r["layer"] != "all"}
    curves = [g for g in root.iter(f"{SVG}g") if g.get("class") == "curve"]
    assert sorted(g.get("data-pair") for g in curves) == sorted({pair for pair, _ in rows})
    means, heights = [], []
    for curve in curves:
        for point in (c for c in curve.iter(f"{SVG}circle") if c.get("class") == "point"):
            row = rows[(curve.get("data-pair"), point.get("data-layer"))]
            for stat in ("mean", "q25", "q75"):
                expected = row[f"{metric}_{stat}"]
                assert (point.get(f"data-{stat}") is None) == (expected == ""), (point.attrib, stat)
                if expected:
                    assert float(point.get(f"data-{stat}")) == pytest.approx(float(expected), rel=1e-12)
            means.append(float(point.get("data-mean")))
            heights.append(float(point.get("cy")))
    assert len(means) == len(rows)  # one point per (pair, layer) row with a mean
    slope, offset = np.polyfit(means, heights, 1)  # each point is drawn at its number: one affine map
    assert slope < 0 and np.max(np.abs(np.polyval([slope, offset], means) - heights)) < 1e-6
    name, png = download(page, f'{buttons}[data-export="png"]')
    assert name.endswith(".png") and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (2 * int(root.get("width")), 2 * int(root.get("height")))


# ---- `ligsite figures`: kind = "analysis" draws the page's export --------------------------------

FIGURE_SPEC = """
[defaults]
theme = "light"
[[figure]]
kind = "analysis"
name = "rel-word"
metric = "rel"
axis = "word"
layer_baseline = "self_input_token"
pairs = [["itb_map_ratio", "zero"], ["zero", "zero"]]
layers = [1]
title = "Relative L2 per word column"
png_scale = 3
"""
FIGURE_PLOT = {"axis": "word", "metric": "rel", "layerBaseline": "self_input_token",
               "pairs": ["itb_map_ratio+zero", "zero+zero"], "layers": [1]}


@pytest.fixture(scope="module")
def analysis_figures(analysis_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("analysis-figures")
    (folder / "figures.toml").write_text(FIGURE_SPEC, encoding="utf-8")
    command = [sys.executable, "-m", "ligsite", "figures", str(folder / "figures.toml"), "--site", str(analysis_site),
               "-o", str(folder / "out")]  # its own process: this one already drives a browser
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return folder / "out"


def test_figures_draws_an_analysis_plot_byte_equal_to_the_pages_export(viewer, analysis_url: str, analysis_site: Path,
                                                                       analysis_figures: Path) -> None:
    svg = (analysis_figures / "rel-word.svg").read_text(encoding="utf-8")
    open_page(viewer, analysis_url + "analysis/analysis.html")
    options = {"theme": "light", "title": "Relative L2 per word column"}
    assert svg == viewer.page.evaluate("([p, o]) => window.ligsiteAnalysis.exportSVG(p, o)", [FIGURE_PLOT, options])
    root = ET.fromstring(svg)
    rows = {r["att_baseline"] + "+" + r["mlp_baseline"]: r for r in summary(analysis_site)
            if r["axis"] == "word" and r["layer_baseline"] == "self_input_token" and r["layer"] == "1"}
    points = {(g.get("data-pair"), c.get("data-layer")): c for g in root.iter(f"{SVG}g") if g.get("class") == "curve"
              for c in g.iter(f"{SVG}circle")}
    assert sorted(points) == [("itb_map_ratio+zero", "1"), ("zero+zero", "1")]  # only the asked pairs and layer
    for (pair, _), point in points.items():
        assert float(point.get("data-mean")) == pytest.approx(float(rows[pair]["rel_mean"]), rel=1e-12)
    png = (analysis_figures / "rel-word.png").read_bytes()
    assert struct.unpack(">II", png[16:24]) == (3 * int(root.get("width")), 3 * int(root.get("height")))
    assert 'href="rel-word.svg"' in (analysis_figures / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(("entry", "message"), [
    ('metric = "r2"', "metric 'r2' is not valid; choose one of pearson, rel, abs"),
    ('layer_baseline = "itb_zero_ratio"', "valid: zero, self_input_token"),
    ('pairs = [["zero", "att_itb_a0"]]', 'valid: ["zero", "zero"], ["self_input_token", "att_itb_a0"], ["itb_map_ratio", "zero"]'),
    ("layers = [5]", "not all stored block indices"),
    ('sample = "x"', "unknown key 'sample' for kind = \"analysis\""),
    ('kind = "heatmap"', "kind 'heatmap' is not valid; use kind = \"analysis\""),
    ('analysis = "elsewhere"', "analysis.html does not exist; write it with `ligsite analyze SAMPLES -o elsewhere`"),
])
def test_analysis_figure_errors_name_the_bad_value_and_the_valid_choices(analysis_site: Path, tmp_path: Path,
                                                                         entry: str, message: str) -> None:
    from ligsite.errors import SiteError
    from ligsite.figures_spec import load_spec

    spec = tmp_path / "figures.toml"
    kind = "" if entry.startswith("kind") else 'kind = "analysis"\n'
    spec.write_text(f'[[figure]]\n{kind}name = "bad"\n{entry}\n', encoding="utf-8")
    with pytest.raises(SiteError) as error:
        load_spec(spec, analysis_site)
    assert message in str(error.value) and "figure 1" in str(error.value)
