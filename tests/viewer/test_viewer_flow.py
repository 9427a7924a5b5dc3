"""Flow across layers (issue 13): the cumulative map equals the product of the per-layer column
shares (self included) computed here with numpy from the same payload, to 1e-6."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ligsite.payload import decode
from papersite import N_LAYERS, WORD_INDEX, WORDS, paper_site  # noqa: F401

pytestmark = pytest.mark.slow


def _flow(payload: dict, key: str, target: int, top: int, word: bool = False) -> np.ndarray:
    """Rows: the top layer's output, then each layer's input going down; columns: positions."""
    maps = decode(payload["maps"][key]).astype(np.float32).astype(np.float64)  # [nL, source, target]
    if word:
        idx = np.array(WORD_INDEX)
        summed = np.zeros((len(maps), len(WORDS), len(WORDS)))
        for pos in range(len(maps)):
            np.add.at(summed[pos], (idx[:, None], idx[None, :]), maps[pos])
        maps = summed.astype(np.float32).astype(np.float64)
    n = maps.shape[1]
    weights = np.zeros(n)
    weights[target] = 1.0
    rows = [weights]
    for pos in range(top, -1, -1):
        m = np.nan_to_num(maps[pos], nan=0.0)
        total = np.abs(m).sum(axis=0, keepdims=True)
        shares = np.divide(m, total, out=np.zeros_like(m), where=total > 0)  # column shares, self included
        weights = shares @ weights
        rows.append(weights)
    return np.array(rows)


@pytest.mark.parametrize("fragment, key, target, top, word", [
    ("layer=3&target=4", "direct:zero", 4, 3, False),
    ("layer=2&target=2&route=composed&attBaseline=zero&mlpBaseline=zero&axis=word", "composed:zero+zero", 2, 2, True),
])
def test_the_flow_map_is_the_product_of_the_per_layer_shares(viewer, paper_site, fragment, key, target, top, word):
    url, payload = paper_site
    viewer.open(url + f"index.html#sample=paper&{fragment}")
    page = viewer.page
    assert page.is_hidden("#flow")  # computed only once the reader opens the panel
    page.click("#flow-panel summary")
    page.wait_for_selector("#flow-map[data-values]")
    got = np.array(json.loads(page.get_attribute("#flow-map", "data-values")), dtype=np.float64)
    ref = _flow(payload, key, target, top, word)
    assert got.shape == (ref.size,)
    np.testing.assert_allclose(got.reshape(ref.shape), ref, atol=1e-6, rtol=1e-6)
    assert "self cell included" in page.text_content("#flow .flow-legend")
    edges = int(page.get_attribute("#flow-graph", "data-edges"))
    page.fill("#flowThreshold", "50")
    page.dispatch_event("#flowThreshold", "input")
    assert int(page.get_attribute("#flow-graph", "data-edges")) < edges  # the slider prunes the graph


def test_the_flow_panel_waits_for_a_target(viewer, paper_site):
    url, _ = paper_site
    viewer.open(url + f"index.html#sample=paper&layer={N_LAYERS - 1}")
    assert viewer.page.is_hidden("#focus") and viewer.page.is_hidden("#flow")
