"""One end-to-end build with the real embedded MiniLM: defaults, then the page a visitor sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from jsunit import served
from reference import expected_checksum

pytestmark = pytest.mark.slow


def test_minilm_build_with_default_routes_renders_in_the_browser(viewer, minilm_dir, tmp_path: Path):
    samples = tmp_path / "samples.txt"
    samples.write_text("# one short sentence\nThe cat sat on the mat.\n", encoding="utf-8")
    run_cli("build", str(samples), "-o", str(tmp_path / "site"), "--steps", "2", "--device", "cpu",
            "--cache-dir", str(tmp_path / "cache"))
    manifest = json.loads((tmp_path / "site" / "data" / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["samples"][0]
    payload = json.loads((tmp_path / "site" / entry["file"]).read_text(encoding="utf-8"))
    assert payload["layers"] == [0, 1, 2, 3, 4, 5] and payload["tokens"][2] == "cat"
    assert len(payload["maps"]) == 3 + 8  # default: 3 direct baselines, 4 x 2 composed pairs
    with served(tmp_path / "site") as url:
        viewer.open(url + f"s/{entry['id']}.html#layer=5&route=composed&attBaseline=itb_map_ratio&mlpBaseline=att_itb_a0")
        assert viewer.tokens() == payload["tokens"]
        assert viewer.checksum() == expected_checksum(payload, "composed:itb_map_ratio+att_itb_a0", 5)
        assert "all-MiniLM-L6-v2" in viewer.page.text_content("#provenance")
