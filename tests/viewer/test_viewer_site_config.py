"""A site built with a ligsite.toml that sets the viewer's first view ([site.defaults]) and a
citation (site.citation), on a tiny real BERT with MiniLM's WordPiece vocabulary, from a sentence
with characters outside that vocabulary: its [UNK] tokens show their characters (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from jsunit import served

pytestmark = pytest.mark.slow
CITATION = "Doe, J. & Roe, R. (2026). Layer-wise Integrated Gradients.\nhttps://example.org/lig"
TOML = f'''steps = 2
[baselines]
layer = ["zero", "self_input_token"]
composed = [["zero", "zero"], ["self_input_token", "att_itb_a0"]]
[site]
title = "Defaults site"
citation = {json.dumps(CITATION)}
[site.defaults]
route = "composed"
att_baseline = "self_input_token"
mlp_baseline = "att_itb_a0"
layer = 1
norm = "share-noself"
hide_self = false
rank_self = true
'''
TEXTS = [{"id": "snow", "text": "Snow ☃ falls on 🐱 cats."}, {"id": "plain", "text": "The cat sat."}]


@pytest.fixture(scope="module")
def config_site(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir) -> Path:
    root = tmp_path_factory.mktemp("config-site")
    (root / "ligsite.toml").write_text(TOML, encoding="utf-8")
    (root / "samples.jsonl").write_text("\n".join(json.dumps(t, ensure_ascii=False) for t in TEXTS) + "\n", encoding="utf-8")
    run_cli("build", str(root / "samples.jsonl"), "-o", str(root / "site"), "--model", str(tiny_model_dir("bert", 2)),
            "--config", str(root / "ligsite.toml"), "--cache-dir", str(root / "cache"), "--device", "cpu")
    return root / "site"


@pytest.fixture(scope="module")
def config_url(config_site: Path):
    with served(config_site) as url:
        yield url


def test_the_manifest_carries_the_tomls_defaults_and_citation(config_site: Path) -> None:
    manifest = json.loads((config_site / "data" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["citation"] == CITATION
    assert manifest["defaults"] == {"route": "composed", "attBaseline": "self_input_token", "mlpBaseline": "att_itb_a0",
                                    "layer": 1, "norm": "share-noself", "hideSelf": 0, "rankSelf": 1}


def test_a_fresh_visit_opens_on_the_sites_defaults_and_shows_the_citation(viewer, config_url) -> None:
    viewer.open(config_url + "index.html")
    state = viewer.state()
    assert {key: state[key] for key in ("route", "attBaseline", "mlpBaseline", "layer", "norm", "hideSelf", "rankSelf")} == \
        {"route": "composed", "attBaseline": "self_input_token", "mlpBaseline": "att_itb_a0", "layer": 1,
         "norm": "share-noself", "hideSelf": 0, "rankSelf": 1}
    page = viewer.page
    assert page.eval_on_selector("#norm", "e => e.value") == "share-noself"  # the controls show it too
    assert page.eval_on_selector("#hideSelf", "e => e.checked") is False
    page.click("#how-to-read summary")
    assert page.inner_text("#citation") == CITATION
    assert page.is_visible("#citation")
    assert not viewer.problems


def test_a_link_keeps_its_own_state_whatever_the_sites_defaults(viewer, config_url) -> None:
    viewer.open(config_url + "index.html#sample=plain&layer=0")
    state = viewer.state()
    assert (state["route"], state["layer"], state["norm"], state["hideSelf"]) == ("direct", 0, "raw", 0)


def test_a_default_layer_some_sample_lacks_is_a_render_error(tmp_path: Path) -> None:
    from conftest import fixture_payloads
    from ligsite.errors import SiteError
    from ligsite.site import SiteMeta, render_site

    with pytest.raises(SiteError, match=r'site.defaults.layer 99 is not stored for sample long69; valid: "all", 0, 1'):
        render_site(fixture_payloads(), tmp_path / "site", SiteMeta(defaults={"layer": 99}))


UNKNOWN_LABELS = ["[CLS]", "snow", "[UNK]→☃", "falls", "on", "[UNK]→🐱", "cats", ".", "[SEP]"]


def test_the_payload_maps_unknown_tokens_to_their_characters(config_site: Path) -> None:
    snow = json.loads((config_site / "data" / "snow.json").read_text(encoding="utf-8"))
    assert snow["tokens"][2] == snow["tokens"][5] == "[UNK]"  # the raw tokens stay as the model saw them
    assert snow["unk_text"] == {"2": "☃", "5": "🐱"}
    assert snow["words"] == UNKNOWN_LABELS
    plain = json.loads((config_site / "data" / "plain.json").read_text(encoding="utf-8"))
    assert "unk_text" not in plain


def test_the_viewer_labels_unknown_tokens_with_their_characters(viewer, config_url) -> None:
    viewer.open(config_url + "index.html#sample=snow&route=direct&layerBaseline=zero&layer=0&axis=token")
    assert viewer.tokens() == UNKNOWN_LABELS
    svg = viewer.page.evaluate("() => window.ligsite.exportSVG({theme: 'light'})")
    assert svg.count(">[UNK]→☃</text>") == 2 and svg.count(">[UNK]→🐱</text>") == 2  # row and column labels
    viewer.set_state(axis="word")
    assert viewer.tokens() == UNKNOWN_LABELS
    picker = viewer.page.eval_on_selector_all("#targetPicker option", "options => options.map((o) => o.textContent)")
    assert picker[3] == "2 [UNK]→☃"  # after "none"
    assert not viewer.problems
