"""Schema-1 payloads for viewer tests, made from seeded random signed matrices.

Why not only real builds: these give exact control over token count, layers, NaN columns and
hostile text (HTML, CJK) in milliseconds; real builds from tiny models are used alongside them.
Quantization is ligsite.payload.quantize, the same code real builds use.
"""

from __future__ import annotations

import numpy as np

from ligsite.payload import quantize

DIRECT = ("zero", "self_input_token", "itb_zero_ratio")
COMPOSED = (("zero", "zero"), ("self_input_token", "att_itb_a0"), ("itb_map_ratio", "zero"))


def fake_payload(sample_id: str, text: str, tokens: list[str], n_layers: int, seed: int,
                 nan_targets: tuple[int, ...] = (), composed: tuple = COMPOSED) -> dict:
    """A payload with every direct/composed map of random signed values (NaN columns optional)."""
    rng = np.random.default_rng(seed)
    size = len(tokens)
    maps = {}
    keys = [f"direct:{b}" for b in DIRECT] + [f"composed:{a}+{m}" for a, m in composed]
    for key in keys:
        values = rng.normal(size=(n_layers, size, size)) * rng.uniform(0.1, 2.0, size=(n_layers, 1, 1))
        values[:, :, list(nan_targets)] = np.nan  # [layer, source, target]: a target not computed
        maps[key] = quantize(values)
    word_ids = [None] + list(range(size - 2)) + [None] if size > 2 else [None] * size
    return {
        "schema": 1, "id": sample_id, "text": text, "label": None, "source": None,
        "tokens": tokens, "word_ids": word_ids, "words": list(tokens), "word_index": list(range(size)),
        "layers": list(range(n_layers)), "n_heads": 4, "orientation": "source,target", "maps": maps,
        "completeness": {}, "l2": {}, "warnings": [],
        "provenance": {"model": "fake-random", "steps": 8, "quadrature": "gauss-legendre", "ligsite": "0.1.0"},
    }


def word_tokens(count: int) -> list[str]:
    """``count`` tokens framed like BERT: [CLS] w1 ... [SEP]."""
    return ["[CLS]"] + [f"w{k}" for k in range(1, count - 1)] + ["[SEP]"]
