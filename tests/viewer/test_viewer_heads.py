"""The per-head drill-down (issue 13) on a real build (tiny random BERT, 12 layers, 4 heads):
the head file is fetched only when the view opens, its maps are the data's, and it stays within
3× the main payload when scaled to 12 heads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ligsite.payload import decode
from reference import checksum

pytestmark = pytest.mark.slow

LINK = "index.html#sample=short&layer=3&route=composed&attBaseline=zero&mlpBaseline=zero&target=2"


def _heads(site_dir, sample: str, att: str) -> dict:
    return json.loads((site_dir / "data" / "heads" / f"{sample}.{att}.json").read_text(encoding="utf-8"))


def _head_requests(page) -> list[str]:
    return page.evaluate("() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/heads/'))")


def test_the_head_file_is_fetched_only_when_the_head_view_opens(viewer, site_url, site_dir):
    main = json.loads((site_dir / "data" / "short.json").read_text(encoding="utf-8"))
    assert "heads" not in main  # the first load does not grow
    viewer.open(site_url + LINK)
    page = viewer.page
    assert page.is_visible("#heads-open") and _head_requests(page) == []
    page.click("#heads-open")
    page.wait_for_selector("#head-0")
    assert [name.rsplit("/", 1)[1] for name in _head_requests(page)] == ["short.zero.json"]
    assert viewer.state()["head"] == "all" and "head=all" in page.url


def test_the_head_grid_shows_each_heads_att_map_and_mlp_weight_from_the_data(viewer, site_url, site_dir):
    heads = _heads(site_dir, "short", "zero")
    n_heads, layers = heads["n_heads"], heads["layers"]
    position = layers.index(3)
    att = decode(heads["att"]).reshape(len(layers), n_heads, *heads["att"]["shape"][1:])  # [nL, H, T_src, T_tgt]
    mlp = decode(heads["mlp"]["zero"])  # [nL, T_tgt, H]
    viewer.open(site_url + LINK + "&head=all")
    page = viewer.page
    page.wait_for_selector(f"#head-{n_heads - 1}")
    assert page.locator("#heads-grid figure").count() == n_heads
    for h in range(n_heads):
        assert viewer.checksum(f"#head-{h}") == checksum([att[position, h].T.astype(np.float32)])
        caption = page.text_content(f"#heads-grid figure[data-head='{h}'] figcaption")
        assert f"MLP weight {float(f'{mlp[position, 2, h]:.3g}'):g}" in caption
    # the two factors compose to the main payload's composed map
    main = json.loads((site_dir / "data" / "short.json").read_text(encoding="utf-8"))
    composed = decode(main["maps"]["composed:zero+zero"])[position]
    product = np.einsum("hij,jh->ij", att[position], mlp[position])
    np.testing.assert_allclose(product, composed, atol=1e-3 * np.abs(composed).max())
    page.click("#heads-grid figure[data-head='1']")
    page.wait_for_function("() => window.ligsite.getState().head === 1")
    assert viewer.checksum("#head-large") == checksum([att[position, 1].T.astype(np.float32)])
    page.click("#heads-close")
    page.wait_for_function("() => window.ligsite.getState().head === null")


def test_the_head_file_is_within_three_times_the_main_payload_at_twelve_heads(site_dir):
    main = (site_dir / "data" / "long69.json").stat().st_size
    for path in sorted((site_dir / "data" / "heads").glob("long69.*.json")):
        heads = json.loads(path.read_text(encoding="utf-8"))
        at_twelve = path.stat().st_size * 12 / heads["n_heads"]  # every array in it scales with H
        print(f"\n{path.name}: {path.stat().st_size} B at {heads['n_heads']} heads, ~{at_twelve:.0f} B at 12; main {main} B")
        assert at_twelve <= 3 * main, (path.name, at_twelve, main)
