"""What a user sees when driving the controls: the drawn data, axes, URL state, focus panel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reference import checksum, display_matrix, expected_checksum

pytestmark = pytest.mark.slow


def payload_of(site_dir: Path, sample_id: str) -> dict:
    return json.loads((site_dir / "data" / f"{sample_id}.json").read_text(encoding="utf-8"))


def _self_hidden(payload: dict, key: str, layer: int) -> str:
    """The checksum of a layer drawn with its self cells hidden (the first view's default)."""
    matrix = display_matrix(payload, key, payload["layers"].index(layer)).copy()
    np.fill_diagonal(matrix, np.nan)
    return checksum([matrix])


def test_index_opens_first_sample_and_draws_its_values(viewer, site_url, site_dir):
    viewer.open(site_url + "index.html")
    state = viewer.state()
    first = payload_of(site_dir, "long69")
    assert state["sample"] == "long69" and state["route"] == "direct" and state["layer"] == 0
    assert state["hideSelf"] == 1  # issue 13: the first view hides the self cells
    assert viewer.checksum() == _self_hidden(first, "direct:zero", 0)
    assert viewer.tokens() == first["tokens"]
    assert viewer.page.text_content("#sentence") == first["text"]


@pytest.mark.parametrize("selector, value, key, layer", [
    ("#layerBaseline", "self_input_token", "direct:self_input_token", 0),
    ("#route", "composed", "composed:zero+zero", 0),
])
def test_switching_a_select_redraws_the_map_it_names(viewer, site_url, site_dir, selector, value, key, layer):
    viewer.open(site_url + "index.html#sample=long69")
    before = viewer.checksum()
    viewer.page.select_option(selector, value)
    viewer.page.wait_for_function("(c) => document.querySelector('#matrix').dataset.checksum !== c", arg=before)
    assert viewer.checksum() == expected_checksum(payload_of(site_dir, "long69"), key, layer)


def test_composed_baseline_selects_redraw_and_offer_only_existing_pairs(viewer, site_url, site_dir):
    viewer.open(site_url + "index.html#sample=long69&route=composed")
    page = viewer.page
    assert page.eval_on_selector_all("#attBaseline option", "os => os.map(o => o.value)") == [
        "zero", "self_input_token", "itb_map_ratio"]
    page.select_option("#attBaseline", "self_input_token")
    page.wait_for_function("() => window.ligsite.getState().attBaseline === 'self_input_token'")
    # the only MLP baseline paired with ITB in the data is ATTITBa=0: it is chosen and alone offered
    assert page.eval_on_selector_all("#mlpBaseline option", "os => os.map(o => o.value)") == ["att_itb_a0"]
    payload = payload_of(site_dir, "long69")
    assert viewer.checksum() == expected_checksum(payload, "composed:self_input_token+att_itb_a0", 0)
    assert page.is_hidden("#layerBaseline") and page.is_visible("#mlpBaseline")


def test_mlp_baseline_select_redraws_the_composed_map(viewer, site_url, site_dir):
    viewer.open(site_url + "index.html#sample=short&route=composed&attBaseline=zero&mlpBaseline=zero&layer=6")
    assert viewer.page.eval_on_selector_all("#mlpBaseline option", "os => os.map(o => o.value)") == [
        "zero", "att_itb_a0"]
    before = viewer.checksum()
    viewer.page.select_option("#mlpBaseline", "att_itb_a0")
    viewer.page.wait_for_function("(c) => document.querySelector('#matrix').dataset.checksum !== c", arg=before)
    assert viewer.checksum() == expected_checksum(payload_of(site_dir, "short"), "composed:zero+att_itb_a0", 6)


def test_sample_select_changes_the_axis_tokens_and_values(viewer, site_url, site_dir):
    viewer.open(site_url + "index.html")
    viewer.page.select_option("#sample", "short")
    viewer.page.wait_for_function("() => window.ligsite.getState().sample === 'short'")
    short = payload_of(site_dir, "short")
    assert viewer.tokens() == short["tokens"]
    assert viewer.checksum() == _self_hidden(short, "direct:zero", 0)


def test_layer_range_moves_with_the_keyboard_and_redraws(viewer, site_url, site_dir):
    viewer.open(site_url + "index.html#sample=short")
    viewer.page.focus("#layer")
    viewer.page.keyboard.press("ArrowRight")
    viewer.page.keyboard.press("ArrowRight")
    viewer.page.wait_for_function("() => window.ligsite.getState().layer === 2")
    assert viewer.checksum() == expected_checksum(payload_of(site_dir, "short"), "direct:zero", 2)
    assert "layer=2" in viewer.page.evaluate("() => location.hash")


def test_only_routes_in_the_data_are_offered(viewer, fake_site_url):
    viewer.open(fake_site_url + "index.html#sample=cjk&route=composed")
    assert viewer.state()["route"] == "direct"  # cjk has no composed maps: the link is repaired
    assert viewer.page.eval_on_selector_all("#route option", "os => os.map(o => o.value)") == ["direct"]


def test_deep_link_restores_the_whole_state_and_survives_reload(viewer, site_url, site_dir):
    link = "index.html#sample=short&route=composed&attBaseline=itb_map_ratio&mlpBaseline=zero&layer=7&target=2"
    viewer.open(site_url + link)
    expected = {"sample": "short", "route": "composed", "attBaseline": "itb_map_ratio",
                "mlpBaseline": "zero", "layer": 7, "target": 2}
    assert {k: viewer.state()[k] for k in expected} == expected
    short = payload_of(site_dir, "short")
    assert viewer.checksum() == expected_checksum(short, "composed:itb_map_ratio+zero", 7)
    viewer.page.reload()
    viewer.page.evaluate("() => window.ligsite.ready")
    assert {k: viewer.state()[k] for k in expected} == expected
    assert viewer.page.is_visible("#focus")


def test_back_and_forward_walk_through_states(viewer, site_url):
    viewer.open(site_url + "index.html#sample=short")
    viewer.page.select_option("#layerBaseline", "itb_zero_ratio")
    viewer.page.wait_for_function("() => window.ligsite.getState().layerBaseline === 'itb_zero_ratio'")
    viewer.set_state(layer=5)
    viewer.page.go_back()
    viewer.page.wait_for_function("() => window.ligsite.getState().layer === 0")
    assert viewer.state()["layerBaseline"] == "itb_zero_ratio"
    viewer.page.go_back()
    viewer.page.wait_for_function("() => window.ligsite.getState().layerBaseline === 'zero'")
    viewer.page.go_forward()
    viewer.page.wait_for_function("() => window.ligsite.getState().layerBaseline === 'itb_zero_ratio'")
    viewer.set_state(target=3)
    viewer.page.go_back()  # the hash is the whole state: a key absent from it is reset, not kept
    viewer.page.wait_for_function("() => window.ligsite.getState().target === null")
    assert viewer.page.is_hidden("#focus")


def test_per_sample_pages_open_on_their_sample(viewer, site_url, site_dir):
    for sample_id in ("short", "inject", "long69"):
        viewer.open(site_url + f"s/{sample_id}.html")
        payload = payload_of(site_dir, sample_id)
        assert viewer.state()["sample"] == sample_id
        assert viewer.tokens() == payload["tokens"]
        assert viewer.page.title().startswith(payload["text"][:79])


def test_tooltip_shows_the_signed_value_in_the_data_file(viewer, site_url, site_dir):
    viewer.open(site_url + "index.html#sample=short&layer=3")
    box = viewer.page.locator("#matrix").bounding_box()
    size = 6
    target, source = 2, 4
    viewer.page.mouse.move(box["x"] + (source + 0.5) * box["width"] / size,
                           box["y"] + (target + 0.5) * box["height"] / size)
    text = viewer.page.text_content("#tooltip")
    value = float(display_matrix(payload_of(site_dir, "short"), "direct:zero", 3)[target, source])
    assert f"target {target} “cat”" in text and f"source {source} “.”" in text
    shown = float(text.split("value ")[1].split(" ")[0].replace("\u2212", "-"))
    assert shown == pytest.approx(value, rel=1e-5)


def test_click_locks_the_tooltip_and_focuses_the_target_escape_clears(viewer, site_url):
    viewer.open(site_url + "index.html#sample=short&layer=3")
    box = viewer.page.locator("#matrix").bounding_box()
    cell = box["width"] / 6
    viewer.page.mouse.click(box["x"] + 1.5 * cell, box["y"] + 3.5 * cell)
    viewer.page.wait_for_function("() => window.ligsite.getState().target === 3")
    locked = viewer.page.text_content("#tooltip")
    viewer.page.mouse.move(box["x"] + 4.5 * cell, box["y"] + 0.5 * cell)
    assert viewer.page.text_content("#tooltip") == locked and viewer.page.is_visible("#tooltip")
    assert viewer.page.is_visible("#focus") and "target=3" in viewer.page.evaluate("() => location.hash")
    viewer.page.keyboard.press("Escape")
    viewer.page.wait_for_function("() => window.ligsite.getState().target === null")
    assert viewer.page.is_hidden("#tooltip") and viewer.page.is_hidden("#focus")


def test_focus_panel_lists_top_sources_with_signed_values_and_shares(viewer, site_url, site_dir):
    viewer.open(site_url + "index.html#sample=long69&layer=4&target=10")
    row = display_matrix(payload_of(site_dir, "long69"), "direct:zero", 4)[10].astype(np.float64)
    order = np.argsort(-np.abs(row), kind="stable")[:10]
    items = viewer.page.eval_on_selector_all("#topk li", "ls => ls.map(l => [l.dataset.source, "
                                             "l.querySelector('.value').textContent, l.querySelector('.share').textContent])")
    assert [int(source) for source, _, _ in items] == order.tolist()
    for (source, value, share), k in zip(items, order):
        assert float(value.replace("\u2212", "-")) == pytest.approx(row[k], rel=1e-5)
        assert float(share.replace("\u2212", "-").rstrip("%")) == pytest.approx(100 * row[k] / np.abs(row).sum(), abs=0.051)
    expected = checksum([np.stack([display_matrix(payload_of(site_dir, "long69"), "direct:zero", p)[10]
                                   for p in range(12)])])
    assert viewer.checksum("#focus-matrix") == expected


def test_all_layers_view_draws_every_layer_large(viewer, site_url, site_dir):
    viewer.open(site_url + "index.html#sample=short")
    viewer.page.check("#allLayers")
    viewer.page.wait_for_function("() => window.ligsite.getState().layer === 'all'")
    short = payload_of(site_dir, "short")
    assert viewer.page.is_hidden("#matrix-section")
    assert viewer.checksum("#overview") == checksum([display_matrix(short, "direct:zero", p) for p in range(12)])
    assert viewer.page.locator("#overview canvas").count() == 12


def test_copy_link_puts_the_current_url_on_the_clipboard(viewer_browser, site_url):
    context = viewer_browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(site_url + "index.html#sample=short&layer=2")
    page.evaluate("() => window.ligsite.ready")
    page.click("#copyLink")
    page.wait_for_function("() => document.querySelector('#status').textContent === 'Link copied.'")
    assert page.evaluate("() => navigator.clipboard.readText()") == page.url
    context.close()





def test_a_target_not_computed_is_drawn_grey_and_says_so(viewer, fake_site_url):
    viewer.open(fake_site_url + "index.html#sample=short&layer=2")  # fake "short": target 4 is NaN
    viewer.page.evaluate("() => document.querySelector('#matrix').scrollIntoView({block: 'center'})")
    box = viewer.page.locator("#matrix").bounding_box()
    cell = box["width"] / 6
    viewer.page.mouse.move(box["x"] + 1.5 * cell, box["y"] + 4.5 * cell)
    assert "value not computed" in viewer.page.text_content("#tooltip")
    pixel = viewer.page.evaluate("""([x, y]) => {
        const canvas = document.querySelector('#matrix');
        const ratio = canvas.width / canvas.getBoundingClientRect().width;
        return Array.from(canvas.getContext('2d').getImageData(x * ratio, y * ratio, 1, 1).data);
    }""", [1.5 * cell, 4.5 * cell])
    assert pixel == [190, 190, 190, 255]
