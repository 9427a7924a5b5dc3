"""Hostile text stays text, and the single-file page works from file:// with no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import INJECTED_TOKENS, INJECTION, run_cli

pytestmark = pytest.mark.slow


def test_injected_html_in_a_sentence_shows_as_text_and_runs_nothing(viewer, site_url):
    viewer.open(site_url + "s/inject.html")  # the fixture fails the test on any dialog or page error
    page = viewer.page
    assert page.text_content("#sentence") == INJECTION
    assert page.title().startswith(INJECTION[:60])
    assert page.get_attribute("meta[name=description]", "content") == INJECTION
    assert page.locator("img").count() == 0 and page.locator("script:not([src]):not([type])").count() == 0
    assert page.eval_on_selector("#sample", "s => s.selectedOptions[0].textContent").startswith(INJECTION[:60])


def test_injected_html_in_tokens_shows_as_text_and_runs_nothing(viewer, fake_site_url):
    viewer.open(fake_site_url + "s/inject.html")
    page = viewer.page
    assert viewer.tokens() == INJECTED_TOKENS
    labels = page.eval_on_selector_all("#matrix-holder svg text", "ts => ts.map(t => t.textContent)")
    assert "&amp;" in labels and any(label.startswith("</script>") for label in labels)
    box = page.locator("#matrix").bounding_box()  # a tooltip from the hostile tokens stays text too
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.3)
    assert "alert(3)" in page.text_content("#tooltip") and page.locator("#tooltip img").count() == 0
    assert page.evaluate("() => window.__pwned === undefined")


def test_site_title_with_html_is_escaped(viewer, site_url):  # the title comes from ligsite.toml
    viewer.open(site_url + "index.html")
    assert viewer.page.title() == "Viewer <b>test</b> site"
    assert viewer.page.text_content("h1") == "Viewer <b>test</b> site"
    assert viewer.page.locator("h1 b").count() == 0
    assert viewer.page.text_content(".description") == "Tiny random BERT & test sentences"
    provenance = viewer.page.text_content("#provenance")
    assert "steps: 2" in provenance and "quadrature: gauss-legendre" in provenance and "ligsite: 0.1.0" in provenance


@pytest.fixture(scope="module")
def single_file(tmp_path_factory: pytest.TempPathFactory, build_args: list[str], site_dir: Path) -> Path:
    """`ligsite render --single-file` from the cache the real build filled (no recompute)."""
    out = tmp_path_factory.mktemp("single")
    run_cli("render", *build_args, "-o", str(out), "--single-file")
    return out / "index.html"


def test_single_file_is_one_self_contained_page(single_file):
    # ligsite's own bookkeeping (.ligsite-site.json marker, .ligsite-lock) aside, one page only
    assert sorted(p.name for p in single_file.parent.iterdir() if not p.name.startswith(".ligsite")) == ["index.html"]
    html = single_file.read_text(encoding="utf-8")
    assert "<script src" not in html and 'type="module"' not in html and "<link rel=\"stylesheet\"" not in html
    assert html.count('type="application/json" id="ligsite-payload-') == 3  # long69, short, inject


def test_single_file_works_from_file_url(viewer, single_file):
    viewer.open(single_file.as_uri() + "#sample=short&layer=1")
    assert viewer.state()["sample"] == "short" and viewer.state()["layer"] == 1
    viewer.page.select_option("#sample", "inject")
    viewer.page.wait_for_function("() => window.ligsite.getState().sample === 'inject'")
    assert viewer.page.text_content("#sentence") == INJECTION
    assert viewer.tokens()[0] == "[CLS]" and "<" in viewer.tokens()
    viewer.page.select_option("#route", "composed")
    viewer.page.wait_for_function("() => window.ligsite.getState().route === 'composed'")
