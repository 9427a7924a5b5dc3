"""Jinja templates of the site, shipped as package data."""
