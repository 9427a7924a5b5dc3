"""web/theme.css + web/theme.js in Chromium: both themes readable (≥ 4.5:1), dark really dark."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import unit_page, unit_server  # noqa: E402,F401
from reference import contrast, luminance  # noqa: E402

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
    assert (luminance(colours["--bg"]) < 0.2) == dark, colours
    for text in TEXT_VARS:
        for surface in SURFACES:
            ratio = contrast(colours[text], colours[surface])
            assert ratio >= 4.5, (theme, scheme, text, surface, round(ratio, 2))


def test_dark_body_background_luminance_is_below_0_2(unit_page: object) -> None:
    seen = _theme_vars(unit_page, "dark", "light")
    assert luminance(seen["body"]) < 0.2
    light = _theme_vars(unit_page, "light", "dark")
    assert light["body"] == "rgb(255, 255, 255)"


def test_pinned_dark_and_auto_in_a_dark_system_give_the_same_palette(unit_page: object) -> None:
    # theme.css writes the dark palette twice (see its header): the two blocks must not drift apart.
    pinned = _theme_vars(unit_page, "dark", "light")
    auto = _theme_vars(unit_page, "auto", "dark")
    assert pinned == auto
    assert pinned != _theme_vars(unit_page, "auto", "light")
