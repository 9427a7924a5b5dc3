"""render_site writes a relative-URL site whose embedded data cannot break out of its tags."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import INJECTION, fixture_payloads
from ligsite.errors import SiteError
from ligsite.site import SiteMeta, build_manifest, offered_routes, render_site, script_json


def test_site_layout_has_pages_data_and_vendored_d3(fake_site_dir: Path):
    ids = [p["id"] for p in fixture_payloads()]
    assert sorted(p.name for p in (fake_site_dir / "s").iterdir()) == sorted(f"{i}.html" for i in ids)
    assert sorted(p.name for p in (fake_site_dir / "data").iterdir()) == sorted([f"{i}.json" for i in ids] + ["manifest.json"])
    assert (fake_site_dir / "assets" / "main.js").is_file() and (fake_site_dir / "assets" / "viewer.css").is_file()
    assert "v7.9.2" in (fake_site_dir / "assets" / "vendor" / "d3.min.js").read_text(encoding="utf-8")[:200]
    assert "ISC" in (fake_site_dir / "assets" / "vendor" / "LICENSE-d3.txt").read_text(encoding="utf-8")


def test_every_url_in_the_pages_is_relative(fake_site_dir: Path):
    for page in [fake_site_dir / "index.html", *(fake_site_dir / "s").iterdir()]:
        urls = re.findall(r'(?:src|href)="([^"]*)"', page.read_text(encoding="utf-8"))
        assert urls and all(not re.match(r"^(/|[a-z]+://)", url) for url in urls), (page, urls)
        prefix = "../" if page.parent.name == "s" else ""
        assert f'src="{prefix}assets/main.js"' in page.read_text(encoding="utf-8")


def test_manifest_lists_samples_routes_and_provenance(fake_site_dir: Path):
    manifest = json.loads((fake_site_dir / "data" / "manifest.json").read_text(encoding="utf-8"))
    assert [s["id"] for s in manifest["samples"]] == ["long69", "short", "inject", "cjk"]
    assert manifest["samples"][0] == {"id": "long69", "text": "a sentence of sixty-nine tokens", "label": None,
                                      "n_tokens": 69, "file": "data/long69.json"}
    assert manifest["routes"]["direct"] == ["zero", "self_input_token", "itb_zero_ratio"]
    assert manifest["routes"]["composed"][1] == ["self_input_token", "att_itb_a0"]
    assert {"model", "steps", "quadrature", "ligsite", "build_date"} <= set(manifest["provenance"])
    inline = (fake_site_dir / "index.html").read_text(encoding="utf-8").split('id="ligsite-manifest">')[1].split("</script>")[0]
    assert json.loads(inline) == manifest


def test_stored_values_take_at_most_three_bytes_each(fake_site_dir: Path):
    payload = json.loads((fake_site_dir / "data" / "long69.json").read_text(encoding="utf-8"))
    for stored in payload["maps"].values():
        n_values = stored["shape"][0] * stored["shape"][1] * stored["shape"][2]
        assert len(stored["data"]) / n_values <= 3


def test_script_json_escapes_everything_that_could_close_a_tag():
    text = str(script_json({"text": INJECTION}))
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"text": INJECTION}


def test_sample_page_head_escapes_the_sentence(fake_site_dir: Path):
    html = (fake_site_dir / "s" / "inject.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img" not in html
    assert "<title>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_rerender_replaces_stale_sample_files(tmp_path: Path):
    payloads = fixture_payloads()
    render_site(payloads, tmp_path, SiteMeta())
    (tmp_path / "CNAME").write_text("example.org")
    render_site(payloads[1:2], tmp_path, SiteMeta())
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["manifest.json", "short.json"]
    assert (tmp_path / "CNAME").read_text() == "example.org"


def test_routes_offered_are_the_union_of_the_payload_maps():
    payloads = fixture_payloads()
    assert offered_routes(payloads[3:]) == {"direct": ["zero", "self_input_token", "itb_zero_ratio"], "composed": []}
    routes = {"direct": ["zero"], "composed": []}
    assert build_manifest(payloads, SiteMeta(routes=routes))["routes"] == routes


@pytest.mark.parametrize("change, message", [
    (lambda p: p.update(id="../x"), "not usable in a file name"),
    (lambda p: p.update(schema=2), "schema 2"),
    (lambda p: p.pop("tokens"), "lacks tokens"),
    (lambda p: p.update(maps={}), "has no maps"),
    (lambda p: p.update(tokens=p["tokens"][:-1]), "expected [layers, tokens, tokens]"),
])
def test_bad_payloads_are_rejected_with_a_message(tmp_path: Path, change, message):
    payload = fixture_payloads()[1]
    change(payload)
    with pytest.raises(SiteError, match=re.escape(message)):
        render_site([payload], tmp_path, SiteMeta())


def test_duplicate_ids_and_no_samples_are_rejected(tmp_path: Path):
    payload = fixture_payloads()[1]
    with pytest.raises(SiteError, match="appears twice"):
        render_site([payload, payload], tmp_path, SiteMeta())
    with pytest.raises(SiteError, match="at least one"):
        render_site([], tmp_path, SiteMeta())


def test_figures_link_is_relative_on_every_page(tmp_path: Path):
    render_site(fixture_payloads()[1:2], tmp_path, SiteMeta(figures="figures/index.html"))
    assert '<a href="figures/index.html">Figures</a>' in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert '<a href="../figures/index.html">Figures</a>' in (tmp_path / "s" / "short.html").read_text(encoding="utf-8")
    for bad in ("https://example.org/f.html", "/figures/index.html", "javascript:alert(1)"):
        with pytest.raises(SiteError, match="must be relative"):
            render_site(fixture_payloads()[1:2], tmp_path, SiteMeta(figures=bad))
