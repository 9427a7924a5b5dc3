"""web/theme.css + web/theme.js in Chromium: both themes readable (≥ 4.5:1), dark really dark."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import unit_page, unit_server  # noqa: E402,F401

pytestmark = pytest.mark.slow
TEXT_VARS = ("--fg", "--muted", "--accent", "--warn")
SURFACES = ("--bg", "--panel")

# Page-side: load theme.css, pin data-theme (or leave auto), read the resolved variables.
VARS_JS = """async ([theme]) => {
  if (!document.querySelector('link[data-unit]')) {
    const link = document.createElement('link');
    link.rel = 'stylesheet'; link.href = '/web/theme.css'; link.dataset.unit = '1';
    await new Promise((ok, fail) => { link.onload = ok; link.onerror = fail; document.head.append(link); });
  }
  const th = await import('/web/theme.js');
  th.themeApply(theme, document.documentElement);
  const css = getComputedStyle(document.documentElement);
  const names = ['--bg', '--fg', '--muted', '--panel', '--border', '--accent', '--warn', '--focus'];
  return {vars: Object.fromEntries(names.map((n) => [n, css.getPropertyValue(n).trim()])),
          body: getComputedStyle(document.body).backgroundColor};
}"""


def _luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance, computed here independently of theme.js."""
    channels = [int(hex_colour[k:k + 2], 16) / 255 for k in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _theme_vars(page: object, theme: str, scheme: str) -> dict:
    page.emulate_media(color_scheme=scheme)
    return page.evaluate(VARS_JS, [theme])


@pytest.mark.parametrize(("theme", "scheme", "dark"), [
    ("light", "light", False), ("dark", "light", True), ("auto", "dark", True),
    ("auto", "light", False), ("light", "dark", False),
])
def test_every_text_colour_has_contrast_4_5_on_every_surface(unit_page: object, theme: str, scheme: str,
                                                             dark: bool) -> None:
    seen = _theme_vars(unit_page, theme, scheme)
    colours = seen["vars"]
    assert (_luminance(colours["--bg"]) < 0.2) == dark, colours
    for text in TEXT_VARS:
        for surface in SURFACES:
            ratio = _contrast(colours[text], colours[surface])
            assert ratio >= 4.5, (theme, scheme, text, surface, round(ratio, 2))


def test_dark_body_background_luminance_is_below_0_2(unit_page: object) -> None:
    seen = _theme_vars(unit_page, "dark", "light")
    r, g, b = (int(x) for x in seen["body"].removeprefix("rgb(").removesuffix(")").split(","))
    assert _luminance(f"#{r:02x}{g:02x}{b:02x}") < 0.2
    light = _theme_vars(unit_page, "light", "dark")
    assert light["body"] == "rgb(255, 255, 255)"


def test_theme_js_contrast_matches_the_wcag_formula(unit_page: object) -> None:
    pairs = [("#1a1a1a", "#ffffff"), ("#a9a9a9", "#121212"), ("#777777", "#ffffff"), ("#000000", "#ffffff")]
    got = unit_page.evaluate(
        "async (pairs) => { const th = await import('/web/theme.js');"
        " return pairs.map(([a, b]) => th.themeContrast(a, b)); }", pairs)
    for (a, b), ratio in zip(pairs, got):
        assert ratio == pytest.approx(_contrast(a, b), rel=1e-12)
    assert got[3] == pytest.approx(21.0)


def test_theme_resolve_follows_the_media_query_only_for_auto(unit_page: object) -> None:
    got = unit_page.evaluate(
        "async () => { const th = await import('/web/theme.js');"
        " return [th.themeResolve('auto', true), th.themeResolve('auto', false),"
        " th.themeResolve('light', true), th.themeResolve('dark', false)]; }")
    assert got == ["dark", "light", "light", "dark"]
