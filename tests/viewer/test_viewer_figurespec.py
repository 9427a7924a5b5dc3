"""Publishing mode (issue 13): "copy figure spec" writes the figures.toml entry of the current view,
and `ligsite figures` draws it into the very SVG the viewer exports (a real CLI run, its own
Chromium, on the same built site)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _figures(spec: str, site, tmp_path) -> str:
    """Run `ligsite figures` (a real CLI process, its own Chromium) on ``spec``; the SVG it wrote."""
    (tmp_path / "figures.toml").write_text(spec, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "ligsite", "figures", str(tmp_path / "figures.toml"),
                           "--site", str(site), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    name = next(line.split('"')[1] for line in spec.splitlines() if line.startswith("name = "))
    return (tmp_path / "out" / f"{name}.svg").read_text(encoding="utf-8")


@pytest.mark.parametrize("fragment", ["sample=short&layer=3&norm=share&hideSelf=1&target=2",
                                      "sample=long69&layer=all&route=composed&attBaseline=self_input_token&mlpBaseline=att_itb_a0&axis=word&wordAgg=mean&scale=layer"])
def test_copy_figure_spec_round_trips_through_ligsite_figures_to_the_same_svg(viewer, fake_site_url, fake_site_dir,
                                                                              tmp_path, fragment):
    viewer.open(fake_site_url + f"index.html#{fragment}")
    page = viewer.page
    spec = page.evaluate("() => window.ligsite.figureSpec()")
    assert spec.startswith("[[figure]]\n") and "sample = " in spec and "#" not in spec  # every state key expressible
    exported = page.evaluate("() => window.ligsite.exportSVG({theme: 'light'})")
    assert _figures(spec, fake_site_dir, tmp_path) == exported


def test_figure_text_fields_go_into_the_spec_and_the_export_alike(viewer, fake_site_url, fake_site_dir, tmp_path):
    """Issue 13: the caption / title / font size set in the viewer are written as spec keys, and
    `ligsite figures` on that entry draws the SVG the viewer exports with them."""
    viewer.open(fake_site_url + "index.html#sample=short&layer=2&norm=share")
    page = viewer.page
    page.click("#figure-text summary")
    page.fill("#figCaption", 'Fig. 3 "short" <b>')
    page.fill("#figTitle", "Layer 2")
    page.fill("#figFontSize", "15")
    spec = page.evaluate("() => window.ligsite.figureSpec()")
    assert 'caption = "Fig. 3 \\"short\\" <b>"\ntitle = "Layer 2"\nfont_size = 15\n' in spec
    exported = page.evaluate("() => window.ligsite.exportSVG({theme: 'light', caption: 'Fig. 3 \"short\" <b>', "
                             "title: 'Layer 2', font_size: 15})")
    assert '<text class="caption" font-size="15"' in exported and ">Layer 2</text>" in exported
    assert _figures(spec, fake_site_dir, tmp_path) == exported
    page.check("#figNoCaption")
    hidden = page.evaluate("() => window.ligsite.figureSpec()")
    assert "caption = false\n" in hidden and "caption = \"" not in hidden


def test_a_spec_without_figure_text_has_no_caption_title_or_font_keys(viewer, fake_site_url):
    viewer.open(fake_site_url + "index.html#sample=short&layer=1&scale=layer")
    spec = viewer.page.evaluate("() => window.ligsite.figureSpec()")
    assert 'scale = "layer"\n' in spec
    assert not [line for line in spec.splitlines() if line.split(" = ")[0] in ("caption", "title", "font_size")]
