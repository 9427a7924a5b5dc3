"""analysis.html (`ligsite build --analysis`): renders offline with no console error, every curve
point is the summary.csv number, and every best-pairs link opens the viewer in the stated state.

One real site per module: `ligsite build --analysis` in-process on a 2-layer tiny random BERT
(three sentences, 2 nodes). Pages are opened through the `viewer` fixture, which fails a test on
a console error, a page error or any request to another host.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

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
