"""Publishing mode (issue 13): `#…&embed=1` is one view with compact chrome that fits a 640×480
<iframe> without scrolling, draws the data of the link, and links back to the full viewer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jsunit import served
from ligsite.site import SiteMeta, render_site

from papersite import paper_payload, paper_site  # noqa: F401
from reference import checksum, display_matrix

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fragment", ["sample=long69&layer=5&embed=1&hideSelf=0", "sample=short&layer=2&embed=1",
                                      "sample=long69&layer=all&embed=1"])
def test_an_embed_page_has_no_controls_and_fits_a_640_by_480_iframe(viewer, fake_site_url, fake_site_dir, fragment):
    page = viewer.page
    page.set_content(f'<iframe id="f" src="{fake_site_url}index.html#{fragment}" width="640" height="480" '
                     'style="border:0"></iframe>')
    frame = page.frame_locator("#f")
    inner = next(f for f in page.frames if f.url.startswith(fake_site_url))
    inner.wait_for_function("() => window.ligsite !== undefined")
    inner.evaluate("() => window.ligsite.ready")
    size = inner.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert size[0] <= 640 and size[1] <= 480, size  # no scrolling inside the frame
    for hidden in ("#controls", "#stepper", "header", "footer", "#focus-holder"):
        assert not frame.locator(hidden).first.is_visible(), hidden
    assert "embed=0" in inner.get_attribute("#embed-open", "href")
    state = inner.evaluate("() => window.ligsite.getState()")
    payload = json.loads((fake_site_dir / "data" / f"{state['sample']}.json").read_text(encoding="utf-8"))
    if state["layer"] == "all":
        assert frame.locator("#overview").is_visible() and not frame.locator("#matrix").is_visible()
        return
    expected = display_matrix(payload, "direct:zero", payload["layers"].index(state["layer"])).copy()
    if state["hideSelf"]:
        np.fill_diagonal(expected, np.nan)
    assert inner.get_attribute("#matrix", "data-checksum") == checksum([expected])
    box = inner.evaluate("() => document.querySelector('#matrix').getBoundingClientRect().bottom")
    assert box <= 480


def test_how_to_read_this_names_every_route_and_baseline_and_cites_the_site(viewer, paper_site, tmp_path):
    url, _ = paper_site
    viewer.open(url + "index.html#sample=paper&layer=1")
    page = viewer.page
    page.click("#how-to-read summary")
    terms = page.eval_on_selector_all("#how-to-read dt", "dts => dts.map((d) => d.textContent)")
    for term in ("direct z→z", "composed ATT × MLP", "zero", "ITB (self input token)", "ITB-zeroRatio",
                 "ITB-mapRatio", "ATTITBa=0", "share", "completeness"):
        assert term in terms, term
    assert page.locator("#citation").count() == 0  # no citation in this site's manifest
    render_site([paper_payload()], tmp_path / "site", SiteMeta(title="c", citation="@article{x, title={<b>LIG</b>}}"))
    with served(tmp_path / "site") as site:
        page.goto(site + "index.html")
        page.evaluate("() => window.ligsite.ready")
        assert page.text_content("#citation") == "@article{x, title={<b>LIG</b>}}"  # as text, not markup
