"""Publishing mode (issue 13): "copy figure spec" writes the figures.toml entry of the current view,
and `ligsite figures` draws it into the very SVG the viewer exports (a real CLI run, its own
Chromium, on the same built site)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fragment", ["sample=short&layer=3&norm=share&hideSelf=1&target=2",
                                      "sample=long69&layer=all&route=composed&attBaseline=self_input_token&mlpBaseline=att_itb_a0&axis=word"])
def test_copy_figure_spec_round_trips_through_ligsite_figures_to_the_same_svg(viewer, fake_site_url, fake_site_dir,
                                                                              tmp_path, fragment):
    viewer.open(fake_site_url + f"index.html#{fragment}")
    page = viewer.page
    spec = page.evaluate("() => window.ligsite.figureSpec()")
    assert spec.startswith("[[figure]]\n") and "sample = " in spec
    exported = page.evaluate("() => window.ligsite.exportSVG({theme: 'light'})")
    (tmp_path / "figures.toml").write_text(spec, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "ligsite", "figures", str(tmp_path / "figures.toml"),
                           "--site", str(fake_site_dir), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    name = next(line.split('"')[1] for line in spec.splitlines() if line.startswith("name = "))
    assert (tmp_path / "out" / f"{name}.svg").read_text(encoding="utf-8") == exported


def test_state_the_spec_cannot_hold_is_named_not_dropped_silently(viewer, fake_site_url):
    viewer.open(fake_site_url + "index.html#sample=short&layer=1&scale=layer")
    assert "# not expressible in a figures spec: scale=layer" in viewer.page.evaluate("() => window.ligsite.figureSpec()")
