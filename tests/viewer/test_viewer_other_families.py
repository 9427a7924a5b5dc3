"""`ligsite build` on the issue-10 families renders a site whose viewer shows exactly the routes
the family has: Mamba (no heads) the direct route only, no head view; the Switch encoder (T5
blocks, fixed expert routing) and DeBERTa-v2 (disentangled attention, the convolution in block 0)
direct and composed, and their head grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import build_model_site
from jsunit import served
from reference import expected_checksum

pytestmark = pytest.mark.slow
TEXTS = ["The cat sat on the mat.", "Dogs bark at night."]


@pytest.fixture(scope="module", params=["mamba", "switch_transformers", "deberta-v2-conv"])
def family_site(request, tmp_path_factory) -> tuple[str, Path]:
    family = request.param
    return family, build_model_site(tmp_path_factory.mktemp(f"site-{family}"), family, TEXTS)


def test_the_viewer_offers_exactly_the_routes_the_family_has(viewer, family_site):
    family, site = family_site
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["samples"][0]
    payload = json.loads((site / entry["file"]).read_text(encoding="utf-8"))
    with served(site) as url:
        viewer.open(url + f"index.html#sample={payload['id']}&layer=1&hideSelf=0&norm=raw")
        assert viewer.checksum() == expected_checksum(payload, "direct:zero", 1)
        routes = viewer.page.eval_on_selector_all("#route option", "options => options.map(o => o.value)")
        if family == "mamba":
            assert payload["n_heads"] == 0 and manifest["routes"]["composed"] == [] and "heads" not in entry
            assert routes == ["direct"]
            viewer.set_state(route="composed", head="all")  # neither exists: nothing of them is drawn
            assert viewer.state()["route"] == "direct"
            assert viewer.page.locator("#heads-holder figure").count() == 0
            assert viewer.checksum() == expected_checksum(payload, "direct:zero", 1)
        else:
            assert payload["n_heads"] == 4 and "heads" in entry
            assert routes == ["direct", "composed"]
            viewer.set_state(route="composed", attBaseline="zero", mlpBaseline="zero")
            assert viewer.checksum() == expected_checksum(payload, "composed:zero+zero", 1)
            viewer.set_state(head="all")
            viewer.page.wait_for_selector("#head-3")
            assert viewer.page.locator("#heads-holder figure").count() == 4
