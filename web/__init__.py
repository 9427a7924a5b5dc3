"""The viewer's static assets (ES modules, CSS, vendored D3), shipped as package data."""
