// Theme: resolve the state's `theme` (auto | light | dark) against prefers-color-scheme and pin it
// on the root element; plus the WCAG contrast arithmetic the tests and the canvas labels use.

/** "light" or "dark" for a state theme; auto follows the media query. */
export function themeResolve(theme, prefersDark) {
  if (theme === "light" || theme === "dark") return theme;
  return prefersDark ? "dark" : "light";
}

/** Pin the theme on `root` (data-theme) or leave it to the media query for auto. */
export function themeApply(theme, root) {
  if (theme === "light" || theme === "dark") root.dataset.theme = theme;
  else delete root.dataset.theme;
}

/** WCAG 2 relative luminance of "#rrggbb". */
export function themeLuminance(hex) {
  const channel = (k) => {
    const c = parseInt(hex.slice(1 + 2 * k, 3 + 2 * k), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
}

/** WCAG 2 contrast ratio of two "#rrggbb" colours (1 to 21). */
export function themeContrast(a, b) {
  const [hi, lo] = [themeLuminance(a), themeLuminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
