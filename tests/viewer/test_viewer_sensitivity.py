"""The baseline-sensitivity strip (issue 13): for one (layer, target), the top sources under
every computed map, with the values of the data (numpy reference from the same payload)."""

from __future__ import annotations

import numpy as np
import pytest

from papersite import paper_site, shown  # noqa: F401

pytestmark = pytest.mark.slow


def test_the_strip_lists_every_computed_map_with_the_datas_values(viewer, paper_site):
    url, payload = paper_site
    viewer.open(url + "index.html#sample=paper&layer=2&target=3&norm=share&rankSelf=0")
    page = viewer.page
    assert page.locator("#sensitivity").count() == 0  # computed only once the reader opens it
    page.click("#sensitivity-panel summary")
    page.wait_for_selector("#sensitivity")
    keys = page.eval_on_selector_all("#sensitivity thead th[data-key]", "ths => ths.map((t) => t.dataset.key)")
    assert sorted(keys) == sorted(payload["maps"])  # every computed baseline, none left out
    assert page.get_attribute("#sensitivity thead th.is-current", "data-key") == "direct:zero"
    rows = page.evaluate("() => Array.from(document.querySelectorAll('#sensitivity tbody tr'), (tr) =>"
                         " ({source: Number(tr.dataset.source), values: Array.from(tr.cells).slice(1).map((c) => Number(c.title))}))")
    current = shown(payload, "direct:zero", 2, norm="share")[3]
    order = [int(k) for k in np.argsort(-np.abs(current), kind="stable") if k != 3][:8]
    assert [r["source"] for r in rows] == order
    for row in rows:
        for key, value in zip(keys, row["values"]):
            assert value == pytest.approx(float(shown(payload, key, 2, norm="share")[3, row["source"]]), rel=1e-6, abs=1e-9)
    viewer.set_state(target=None)
    assert page.locator("#sensitivity").count() == 0
