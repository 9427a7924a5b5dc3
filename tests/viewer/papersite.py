"""A site for the issue-4 viewer tests: subword tokens (so the word axis differs from the token
axis), L2 diagnostics, completeness ratios and one engine warning, plus Python references of
what the viewer must show (word sums, shares, hide-self), computed independently with numpy."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from jsunit import served
from ligsite.payload import decode
from ligsite.site import SiteMeta, render_site
from sitefixtures import fake_payload

TOKENS = ["[CLS]", "the", "un", "##believ", "##able", "cat", ",", "sat", "down", "[SEP]"]
WORD_INDEX = [0, 1, 2, 2, 2, 3, 4, 5, 6, 7]
WORDS = ["[CLS]", "the", "unbelievable", "cat", ",", "sat", "down", "[SEP]"]
N_LAYERS = 4
LABEL = "positive"
SOURCE = "written for the tests <b>CC0</b>"  # shown as text, never as markup
WARNING = "layer 2 att:zero: 1 completeness ratios off by more than 0.05 (worst: target 3 head 1, ratio 0.9000)"


def _diagnostics(rng: np.random.Generator) -> tuple[dict, dict]:
    """Completeness ratios per (run, layer) and L2 summaries keyed by baselines."""
    t = len(TOKENS)
    ratio = lambda *shape: (1 + rng.normal(scale=0.01, size=shape)).round(6)  # noqa: E731
    att = ratio(N_LAYERS, 4, t)
    att[2, 1, 3] = 0.9
    completeness = {"layer:zero": ratio(N_LAYERS, t).tolist(), "att:zero": att.tolist(),
                    "mlp:zero": ratio(N_LAYERS, t).tolist()}
    l2 = {"zero|zero+zero": {"abs": [0.0123456, 1.5, 27.26, 3.333333], "rel": [0.01, 0.2345678, 0.5, 0.75],
                             "pearson": [0.999912, 0.87654, -0.1234, 0.5],
                             "pooled": {"abs": 3.14159, "rel": 0.2, "pearson": 0.95}}}
    return completeness, l2


def paper_payload() -> dict:
    """The one sample of the paper site: words differ from tokens, diagnostics present."""
    payload = fake_payload("paper", "the unbelievable cat, sat down", TOKENS, N_LAYERS, seed=11)
    completeness, l2 = _diagnostics(np.random.default_rng(12))
    payload.update(words=WORDS, word_index=WORD_INDEX, completeness=completeness, l2=l2, warnings=[WARNING],
                   label=LABEL, source=SOURCE,
                   word_ids=[None, 0, 1, 1, 1, 2, 3, 4, 5, None])
    return payload


def shown(payload: dict, key: str, position: int, axis: str = "token", norm: str = "raw",
          hide_self: bool = False) -> np.ndarray:
    """[target, source] float32 matrix the viewer must draw for these settings."""
    m = decode(payload["maps"][key])[position].astype(np.float32).astype(np.float64)  # [source, target]
    if axis == "word":
        idx = np.array(payload["word_index"])
        words = np.zeros((len(payload["words"]),) * 2)
        np.add.at(words, (idx[:, None], idx[None, :]), m)
        m = words
    if norm != "raw":
        absolute = np.abs(m)
        if norm == "share-noself":
            np.fill_diagonal(absolute, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = m / absolute.sum(axis=0, keepdims=True)
    if hide_self or norm == "share-noself":
        np.fill_diagonal(m, np.nan)
    return m.T.astype(np.float32)


@pytest.fixture(scope="module")
def paper_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """A served site with the subword / diagnostics sample; yields (base URL, its payload)."""
    out = tmp_path_factory.mktemp("paper-site")
    render_site([paper_payload()], out, SiteMeta(title="paper", description="issue 4",
                                                 provenance={"model": "fake-random"}))
    payload = json.loads((out / "data" / "paper.json").read_text(encoding="utf-8"))
    with served(out) as url:
        yield url, payload
