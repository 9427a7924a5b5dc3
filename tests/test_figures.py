"""`ligsite figures`: examples/figures.toml rendered from a site built with a tiny real model,
through the real viewer in Chromium. Figures must be valid SVG/PNG of the expected size, keep the
sentence's tokens as text, carry the payload's L2 numbers, and be byte-identical when re-run."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import orjson
import pytest

from ligsite.errors import SiteError
from ligsite.figures import png_size, render_figures, svg_size
from ligsite.figures_spec import load_spec
from ligsite.samples import read_samples

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "figures.toml"
SVG = "{http://www.w3.org/2000/svg}"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tiny_model_dir, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real build of the spec's sentences (from examples/samples.txt) with a 4-block tiny BERT."""
    folder = tmp_path_factory.mktemp("figures-site")
    wanted = {figure["sample"] for figure in tomllib.loads(SPEC.read_text())["figure"]}
    texts = [s.text for s in read_samples(ROOT / "examples" / "samples.txt") if s.id in wanted]
    assert len(texts) == len(wanted), "examples/figures.toml names a sample that examples/samples.txt lacks"
    samples = folder / "samples.txt"
    samples.write_text("\n".join([*texts, "A second sentence keeps the sample menu honest."]) + "\n")
    command = [sys.executable, "-m", "ligsite", "build", str(samples), "-o", str(folder / "site"),
               "--model", str(tiny_model_dir("bert", 4)), "--steps", "4", "--cache-dir", str(folder / "cache"),
               "--config", str(ROOT / "examples" / "ligsite.toml")]  # the Pages config: links the figures page
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "site"


@pytest.fixture(scope="module")
def rendered(site: Path) -> Path:
    out = site / "figures"
    render_figures(SPEC, site, out)
    return out


def payload(site: Path, sample: str) -> dict:
    return orjson.loads((site / "data" / f"{sample}.json").read_bytes())


def texts(svg: Path) -> list[str]:
    root = ET.fromstring(svg.read_text(encoding="utf-8"))
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_example_spec_writes_svg_png_and_a_figures_page(rendered: Path) -> None:
    names = {path.name for path in rendered.iterdir()}
    assert names == {"layer-stack.svg", "layer-stack.png", "direct-vs-composed.svg",
                     "direct-vs-composed.png", "index.html"}
    page = (rendered / "index.html").read_text()
    assert '<img src="layer-stack.svg"' in page and 'href="direct-vs-composed.png"' in page
    assert 'href="../index.html#sample=8090ccfd0c&amp;route=direct' in page


def test_site_pages_link_the_figures_page_that_figures_writes(site: Path, rendered: Path) -> None:
    assert 'href="figures/index.html"' in (site / "index.html").read_text(encoding="utf-8")
    assert 'href="../figures/index.html"' in (site / "s" / "8090ccfd0c.html").read_text(encoding="utf-8")
    assert (site / "figures" / "index.html").resolve() == (rendered / "index.html").resolve()


def test_layer_stack_has_every_layer_as_vector_cells_and_tokens_as_text(site: Path, rendered: Path) -> None:
    data = payload(site, "8090ccfd0c")
    t, n_layers = len(data["tokens"]), len(data["layers"])
    root = ET.fromstring((rendered / "layer-stack.svg").read_text(encoding="utf-8"))
    panels = [g for g in root.iter(f"{SVG}g") if g.get("class") == "panel"]
    assert [int(p.get("data-layer")) for p in panels] == data["layers"] == [0, 1, 2, 3]
    cells = [r for g in root.iter(f"{SVG}g") if g.get("class") == "cells" for r in g.iter(f"{SVG}rect")]
    assert len(cells) == n_layers * t * t
    words = texts(rendered / "layer-stack.svg")
    assert all(words.count(token) >= 2 * n_layers * data["tokens"].count(token) for token in set(data["tokens"]))
    assert "<image" not in (rendered / "layer-stack.svg").read_text()  # vector, not an embedded bitmap


def test_side_by_side_shows_both_routes_and_the_payloads_l2_numbers(site: Path, rendered: Path) -> None:
    data = payload(site, "8090ccfd0c")
    svg = (rendered / "direct-vs-composed.svg").read_text(encoding="utf-8")
    root = ET.fromstring(svg)
    nested = [node for node in root if node.tag == f"{SVG}svg"]
    assert len(nested) == 2
    assert [p.get("data-layer") for s in nested for p in s.iter(f"{SVG}g") if p.get("class") == "panel"] == ["3", "3"]
    l2 = data["l2"]["self_input_token|self_input_token+att_itb_a0"]
    at = data["layers"].index(3)
    line = next(text for text in texts(rendered / "direct-vs-composed.svg") if text.startswith("L2 direct vs composed"))
    for name in ("abs", "rel", "pearson"):
        assert f"{name} {l2[name][at]:.3g}" in line
    assert "(direct ITB (self input token) vs composed ITB (self input token) × ATTITBa=0, token axis)" in line  # labels, not ids
    ids = [node.get("id") for node in root.iter() if node.get("id")]
    assert len(ids) == len(set(ids)), "panel ids must stay unique inside one SVG"


@pytest.mark.parametrize("name", ["layer-stack", "direct-vs-composed"])
def test_png_is_the_svg_at_twice_its_size(rendered: Path, name: str) -> None:
    png = (rendered / f"{name}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = svg_size((rendered / f"{name}.svg").read_text(encoding="utf-8"))
    assert png_size(png) == (round(width * 2), round(height * 2))
    assert b"tIME" not in png and b"tEXt" not in png
    idat = b""
    at = 8
    while at < len(png):
        length = int.from_bytes(png[at:at + 4], "big")
        if png[at + 4:at + 8] == b"IDAT":
            idat += png[at + 8:at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == round(height * 2) * (1 + 4 * round(width * 2))  # RGBA rows with filter bytes
    assert len(set(raw)) > 32  # many distinct (filtered) bytes: not a blank image


def test_second_render_is_byte_identical(site: Path, rendered: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    render_figures(SPEC, site, again)
    for path in sorted(rendered.iterdir()):
        if path.name != "index.html":
            assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_spec_errors_name_the_bad_value_and_the_valid_choices(site: Path, tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    cases = {
        'name = "x"\nsample = "nope"': "sample 'nope' is not in the site; valid ids: 8090ccfd0c",
        'name = "x"\nsample = "8090ccfd0c"\nlayers = 9': "valid: \"all\", one of [0, 1, 2, 3]",
        'name = "x"\nsample = "8090ccfd0c"\ncolour = "red"': "unknown key 'colour'; valid: name, sample",
        'name = "x"\nsample = "8090ccfd0c"\nroute = "composed"\nbaselines = {att = "zero", mlp = "x"}':
            "composed baselines {att, mlp} must be one of zero+zero",
        'name = "x"\nsample = "8090ccfd0c"\ndiagnostic = "l2"': "needs exactly one direct and one composed panel",
        'name = "x"\nsample = "8090ccfd0c"\ncaption = 3': "caption must be a string, or false to hide it, got 3",
        'name = "x"\nsample = "8090ccfd0c"\nfont_size = 2': "font_size must be between 6 and 40 (px), got 2",
        'name = "x"\nsample = "8090ccfd0c"\ncolour_range = "all"': "colour_range 'all' is not valid; choose one of panel, figure",
        'name = "x"\nsample = "8090ccfd0c"\nscale = "global"': "scale 'global' is not valid; choose one of shared, layer",
    }
    for body, message in cases.items():
        spec.write_text("[[figure]]\n" + body + "\n")
        with pytest.raises(SiteError) as error:
            load_spec(spec, site)
        assert message in str(error.value), body


def test_cli_on_a_folder_that_is_not_a_site_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "ligsite", "figures", str(SPEC), "--site", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {tmp_path} is not a built site (needs index.html and " \
        f"data/manifest.json); build one with `ligsite build SAMPLES -o {tmp_path}` (not --single-file)"


def _panel_svg(width: int, height: int, layer: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<defs><linearGradient id="ligsite-legend"><stop offset="0%" stop-color="#000"/></linearGradient></defs>'
            f'<rect width="10" height="10" fill="url(#ligsite-legend)"/><g class="panel" data-layer="{layer}"/></svg>\n')


def test_compose_lays_panels_side_by_side_with_unique_ids_and_requested_width() -> None:
    from ligsite.figures import compose
    from ligsite.figures_spec import Figure

    figure = Figure(name="f", sample="s", panels=({}, {}), caption="A <caption> & more", theme="light",
                    width=600, formats=("svg",), png_scale=2, columns=2, diagnostic=None)
    svg = compose(figure, [_panel_svg(300, 200, 1), _panel_svg(200, 250, 2)], "L2 line")
    root = ET.fromstring(svg)
    assert (root.get("width"), root.get("viewBox")) == ("600", "0 0 524 306")  # 300 + 200 + gap 8 + margins 16; caption 28 + 250 + L2 line 28
    assert root.get("height") == str(round(306 * 600 / 524, 2))
    nested = [node for node in root if node.tag == f"{SVG}svg"]
    assert [(n.get("x"), n.get("y"), n.get("width")) for n in nested] == [("8", "28", "300"), ("316", "28", "200")]
    assert [n.find(f"{SVG}rect").get("fill") for n in nested] == ["url(#ligsite-legend-p0)", "url(#ligsite-legend-p1)"]
    words = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert words == ["A <caption> & more", "L2 line"]


def test_a_single_panel_without_extras_is_the_viewers_export_unchanged() -> None:
    from ligsite.figures import compose
    from ligsite.figures_spec import Figure

    figure = Figure(name="f", sample="s", panels=({},), caption="", theme="light", width=None,
                    formats=("svg",), png_scale=2, columns=1, diagnostic=None)
    assert compose(figure, [_panel_svg(300, 200, 0)], None) == _panel_svg(300, 200, 0)


# Issue 13 (publishing mode): the figure text and colour-range keys, drawn by the real viewer.
TEXT_SPEC = """
[defaults]
sample = "8090ccfd0c"
layers = 3
formats = ["svg"]

[[figure]]
name = "titled"
caption = "Fig. 2: what <each> token receives"
title = "Direct z→z, layer 3"
font_size = 16

[[figure]]
name = "bare"
caption = false

[[figure]]
name = "own-ranges"
panels = [{ route = "direct", baselines = { layer = "self_input_token" } },
          { route = "composed", baselines = { att = "self_input_token", mlp = "att_itb_a0" } }]

[[figure]]
name = "one-range"
colour_range = "figure"
caption = "Both panels on one colour range"
title = "Direct vs composed"
panels = [{ route = "direct", baselines = { layer = "self_input_token" } },
          { route = "composed", baselines = { att = "self_input_token", mlp = "att_itb_a0" } }]
"""


@pytest.fixture(scope="module")
def text_figures(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("text-figures")
    (folder / "figures.toml").write_text(TEXT_SPEC, encoding="utf-8")
    render_figures(folder / "figures.toml", site, folder / "out")
    return folder / "out"


def _classed(root: ET.Element, name: str) -> list[ET.Element]:
    return [node for node in root.iter() if node.get("class") == name]


def _legend_range(svg: ET.Element) -> str:
    """The "+bound" text at the right end of a panel's legend bar."""
    legend = _classed(svg, "legend")[0]
    return next("".join(t.itertext()) for t in legend.iter(f"{SVG}text") if "".join(t.itertext()).startswith("+"))


def test_caption_title_and_font_size_replace_the_viewers_caption(text_figures: Path) -> None:
    root = ET.fromstring((text_figures / "titled.svg").read_text(encoding="utf-8"))
    caption, title = _classed(root, "caption"), _classed(root, "figure-title")
    assert ["".join(c.itertext()) for c in caption] == ["Fig. 2: what <each> token receives"]
    assert ["".join(t.itertext()) for t in title] == ["Direct z→z, layer 3"]
    assert caption[0].get("font-size") == "16" and title[0].get("font-size") == "21"  # the title is 1.3×


def test_caption_false_hides_every_caption_and_leaves_no_band(text_figures: Path) -> None:
    bare = ET.fromstring((text_figures / "bare.svg").read_text(encoding="utf-8"))
    titled = ET.fromstring((text_figures / "titled.svg").read_text(encoding="utf-8"))
    assert not _classed(bare, "caption") and not _classed(bare, "figure-caption")
    assert float(bare.get("height")) < float(titled.get("height"))
    legend_bar = _classed(bare, "legend")[0].find(f"{SVG}rect")
    assert float(legend_bar.get("y")) <= 24  # the legend moves up to where the caption was


def test_panels_keep_their_own_ranges_unless_the_figure_shares_one(text_figures: Path) -> None:
    own = [n for n in ET.fromstring((text_figures / "own-ranges.svg").read_text(encoding="utf-8")) if n.tag == f"{SVG}svg"]
    one = [n for n in ET.fromstring((text_figures / "one-range.svg").read_text(encoding="utf-8")) if n.tag == f"{SVG}svg"]
    assert len(own) == len(one) == 2
    own_ranges = [_legend_range(panel) for panel in own]
    assert own_ranges[0] != own_ranges[1]  # direct and composed maps have different units
    shared = [_legend_range(panel) for panel in one]
    assert shared[0] == shared[1] == max(own_ranges, key=lambda text: float(text[1:]))
    for panel in one:
        assert "shared by all panels of the figure" in "".join(_classed(panel, "caption")[0].itertext())


def test_a_shared_figure_has_its_title_and_caption_once_above_the_panels(text_figures: Path) -> None:
    root = ET.fromstring((text_figures / "one-range.svg").read_text(encoding="utf-8"))
    assert ["".join(t.itertext()) for t in _classed(root, "figure-title")] == ["Direct vs composed"]
    assert ["".join(t.itertext()) for t in _classed(root, "figure-caption")] == ["Both panels on one colour range"]
    nested = [n for n in root if n.tag == f"{SVG}svg"]
    assert float(nested[0].get("y")) > float(_classed(root, "figure-caption")[0].find(f"{SVG}tspan").get("y"))


@pytest.mark.parametrize("name", ["own-ranges", "one-range"])
def test_a_two_panel_figure_is_as_wide_as_its_panels_with_no_blank_band(text_figures: Path, name: str) -> None:
    root = ET.fromstring((text_figures / f"{name}.svg").read_text(encoding="utf-8"))
    nested = [n for n in root if n.tag == f"{SVG}svg"]
    widths = [float(n.get("width")) for n in nested]
    assert float(root.get("width")) == sum(widths) + 8 + 16  # the panels, one 8 px gap, 8 px margins
    assert float(nested[1].get("x")) == float(nested[0].get("x")) + widths[0] + 8
    for panel, width in zip(nested, widths):
        cells = [r for g in _classed(panel, "cells") for r in g.iter(f"{SVG}rect")]
        right = max(float(r.get("x")) + float(r.get("width")) for r in cells)
        assert width - right <= 28, (name, width, right)  # the panel's own 12 px pad and 16 px margin only


def test_the_l2_line_wraps_inside_a_narrow_two_panel_figure(rendered: Path) -> None:
    root = ET.fromstring((rendered / "direct-vs-composed.svg").read_text(encoding="utf-8"))
    lines = [t for node in _classed(root, "diagnostic") for t in node.iter(f"{SVG}tspan")]
    assert len(lines) >= 2  # one line would be wider than the two panels
    assert all(len((t.text or "").strip()) * 12 * 0.55 <= float(root.get("width")) - 16 for t in lines)
    assert all(float(t.get("y")) < float(root.get("height")) for t in lines)
