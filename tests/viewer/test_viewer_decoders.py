"""`ligsite build` on tiny decoders (Llama with a byte-level BPE, multimodal Gemma 3 with a
SentencePiece-style tokenizer) renders a site the viewer serves like the MiniLM one (issue 9).

The payloads come from the real engine; the checks are the MiniLM site's: no console errors or
outside requests (the ``viewer`` fixture), every control redraws, the URL state survives a
reload, and the axis shows words, not ``Ġ`` / ``▁`` markers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import build_model_site
from jsunit import served
from reference import expected_checksum

pytestmark = pytest.mark.slow
TEXTS = ["She walked unbelievably far to the marketplace on Monday.", "The old man the boats."]


@pytest.fixture(scope="module", params=["llama", "gemma3"])
def decoder_site(request, tmp_path_factory) -> tuple[str, Path]:
    family = request.param
    return family, build_model_site(tmp_path_factory.mktemp(f"site-{family}"), family, TEXTS)


def _payloads(site: Path) -> list[dict]:
    manifest = json.loads((site / "data" / "manifest.json").read_text(encoding="utf-8"))
    return [json.loads((site / entry["file"]).read_text(encoding="utf-8")) for entry in manifest["samples"]]


def test_payloads_are_causal_and_keep_the_tokenizers_own_tokens(decoder_site):
    family, site = decoder_site
    for payload in _payloads(site):
        tokens = payload["tokens"]
        assert tokens[0] == ("<s>" if family == "llama" else "<bos>")  # BOS as the tokenizer adds it
        assert any(t.startswith("Ġ" if family == "llama" else "▁") for t in tokens)
        t = len(tokens)
        assert payload["n_heads"] == 4 and set(payload["maps"]) >= {"direct:zero", "direct:self_input_token",
                                                                    "composed:zero+zero"}
        raw = np.frombuffer(__import__("base64").b64decode(payload["maps"]["direct:zero"]["data"]), "<i2")
        values = raw.reshape(payload["maps"]["direct:zero"]["shape"])  # [nL, T_src, T_tgt]
        after = np.tril(np.ones((t, t), dtype=bool), -1)  # source after target
        assert np.all(values[:, after] == 0) and np.any(values[:, ~after] != 0)


def test_every_control_redraws_and_the_state_survives_a_reload(viewer, decoder_site):
    family, site = decoder_site
    payload = _payloads(site)[0]
    with served(site) as url:
        viewer.open(url + f"index.html#sample={payload['id']}&layer=1&hideSelf=0&norm=raw")
        assert viewer.checksum() == expected_checksum(payload, "direct:zero", 1)
        seen = [viewer.checksum()]
        for change in ({"layerBaseline": "self_input_token"}, {"route": "composed"}, {"attBaseline": "self_input_token"},
                       {"mlpBaseline": "att_itb_a0"}, {"layer": 0}, {"norm": "share"}, {"axis": "word"}):
            viewer.set_state(**change)
            seen.append(viewer.checksum())
            assert seen[-1] != seen[-2], change  # each change drew a different matrix
        state = viewer.state()
        viewer.page.reload()
        viewer.page.evaluate("() => window.ligsite.ready")
        assert viewer.state() == state
        labels = viewer.tokens()
        assert labels and not any(("Ġ" in label or "▁" in label) for label in labels)
        assert any("walked" in label or "old" in label for label in labels)
