"""Pin-and-compare (issue 13): A | B | A−B drawn from the data, the pair's L2 / Pearson, both
states in the URL. References are computed here with numpy from the same payload."""

from __future__ import annotations

import numpy as np
import pytest

from papersite import N_LAYERS, TOKENS, paper_site, shown  # noqa: F401
from reference import checksum

pytestmark = pytest.mark.slow


def _pin_then_change(viewer, url: str) -> None:
    viewer.open(url + "index.html#sample=paper&layer=2&route=composed&attBaseline=zero&mlpBaseline=zero")
    viewer.page.click("#pinA")
    viewer.page.wait_for_function("() => window.ligsite.getState().pin !== null")
    viewer.page.select_option("#route", "direct")
    viewer.page.wait_for_function("() => window.ligsite.getState().route === 'direct'")


def test_a_minus_b_is_the_cell_by_cell_difference_of_the_two_pinned_matrices(viewer, paper_site):
    url, payload = paper_site
    _pin_then_change(viewer, url)
    page = viewer.page
    a = shown(payload, "composed:zero+zero", 2)  # [target, source], as drawn
    b = shown(payload, "direct:zero", 2)
    diff = (a.astype(np.float64) - b.astype(np.float64)).astype(np.float32)
    assert viewer.checksum("#compare-a") == checksum([a])
    assert viewer.checksum("#compare-b") == checksum([b])
    assert viewer.checksum("#compare-diff") == checksum([diff])
    l2 = float(page.get_attribute("#compare-section", "data-l2"))
    pearson = float(page.get_attribute("#compare-section", "data-pearson"))
    assert l2 == pytest.approx(np.linalg.norm(diff.astype(np.float64)), rel=1e-6)
    assert pearson == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], rel=1e-5)
    top = page.evaluate("() => JSON.parse(document.querySelector('#compare-section').dataset.top)")
    order = np.argsort(-np.abs(diff.ravel()), kind="stable")[:10]
    assert top == [[int(k) // len(TOKENS), int(k) % len(TOKENS)] for k in order]
    summary = page.text_content("#compare-summary")
    assert "A: composed zero × zero · layer 2" in summary and "B: direct zero · layer 2" in summary
    assert f"{float(np.format_float_positional(l2, precision=3, fractional=False)):g}" in summary


def test_both_states_live_in_the_url_and_a_reload_shows_the_same_comparison(viewer, paper_site):
    url, payload = paper_site
    _pin_then_change(viewer, url)
    page = viewer.page
    link = page.url
    assert "pin=" in link and "route%3Dcomposed" in link
    before = viewer.checksum("#compare-diff")
    page.goto("about:blank")
    viewer.open(link)
    assert viewer.state()["route"] == "direct" and "route=composed" in viewer.state()["pin"]
    assert viewer.checksum("#compare-diff") == before
    page.click("#unpin")
    page.wait_for_function("() => window.ligsite.getState().pin === null")
    assert page.is_hidden("#compare-section")


def test_baseline_against_baseline_compares_on_the_shown_normalization(viewer, paper_site):
    url, payload = paper_site
    viewer.open(url + f"index.html#sample=paper&layer={N_LAYERS - 1}&norm=share")
    viewer.page.click("#pinA")
    viewer.page.wait_for_function("() => window.ligsite.getState().pin !== null")
    viewer.set_state(layerBaseline="self_input_token")
    a = shown(payload, "direct:zero", N_LAYERS - 1, norm="share")
    b = shown(payload, "direct:self_input_token", N_LAYERS - 1, norm="share")
    diff = (a.astype(np.float64) - b.astype(np.float64)).astype(np.float32)
    assert viewer.checksum("#compare-diff") == checksum([diff])
