// theme.js — pin the state's `theme` on the root element. "auto" is left to theme.css's
// prefers-color-scheme query, which follows a system switch at once, with no script involved.

/** Embed mode (state embed=1, for an <iframe> in a paper's page): layout.css hides the chrome. */
export function embedApply(embed, root) {
  if (embed === 1) root.dataset.embed = "1";
  else delete root.dataset.embed;
}

/** Pin the theme on `root` (data-theme) or leave it to the media query for auto. */
export function themeApply(theme, root) {
  if (theme === "light" || theme === "dark") root.dataset.theme = theme;
  else delete root.dataset.theme;
}
