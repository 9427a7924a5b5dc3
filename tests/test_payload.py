"""payload: int16 maps with a per-layer scale, rounding, the word axis, and to_payload on a real run."""

from __future__ import annotations

import base64
import warnings

import numpy as np
import pytest

from ligsite.payload import NAN_CODE, Q_MAX, decode, quantize, rounded, word_axis


def test_quantization_error_is_at_most_half_a_step_per_layer() -> None:
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 7, 7)) * np.array([1e-4, 1.0, 300.0])[:, None, None]
    stored = quantize(maps)
    scale = np.asarray(stored["scale"])
    assert np.allclose(scale, np.abs(maps).max(axis=(1, 2)) / Q_MAX)
    error = np.abs(decode(stored) - maps)
    assert np.all(error <= scale[:, None, None] / 2 * (1 + 1e-9))


def test_each_layer_max_magnitude_uses_the_full_int16_range() -> None:
    maps = np.array([[[2.0, -4.0], [1.0, 0.5]], [[-0.25, 0.0], [0.125, 0.0]]])
    codes = np.frombuffer(base64.b64decode(quantize(maps)["data"]), dtype="<i2").reshape(2, 2, 2)
    assert codes[0, 0, 1] == -Q_MAX and codes[1, 0, 0] == -Q_MAX
    assert codes[0, 0, 0] == round(Q_MAX / 2)


def test_nan_round_trips_and_is_the_reserved_code() -> None:
    maps = np.array([[[1.0, np.nan], [-1.0, np.nan]]])
    stored = quantize(maps)
    codes = np.frombuffer(base64.b64decode(stored["data"]), dtype="<i2")
    assert list(codes) == [Q_MAX, NAN_CODE, -Q_MAX, NAN_CODE]
    assert np.array_equal(np.isnan(decode(stored)), np.isnan(maps))


def test_all_zero_and_all_nan_layers_decode_without_division_by_zero() -> None:
    maps = np.stack([np.zeros((2, 2)), np.full((2, 2), np.nan)])
    stored = quantize(maps)
    assert stored["scale"] == [0.0, 0.0]
    decoded = decode(stored)
    assert np.array_equal(decoded[0], np.zeros((2, 2))) and np.isnan(decoded[1]).all()


def test_stored_bytes_are_two_per_value_little_endian() -> None:
    stored = quantize(np.arange(2 * 3 * 3, dtype=float).reshape(2, 3, 3))
    assert stored["dtype"] == "int16" and stored["shape"] == [2, 3, 3]
    raw = base64.b64decode(stored["data"])
    assert len(raw) == 2 * 18
    assert raw[2:4] == int(round(1 / (8 / Q_MAX))).to_bytes(2, "little", signed=True)


def test_rounded_keeps_six_significant_digits_and_nulls_non_finite() -> None:
    assert rounded([[1.23456789, -0.000123456789], [np.nan, np.inf]]) == [[1.23457, -0.000123457], [None, None]]
    assert rounded([0.0, 12345678.9]) == [0.0, 12345700.0]


@pytest.mark.parametrize(
    ("tokens", "word_ids", "words", "index"),
    [
        (["[CLS]", "the", "un", "##bel", "##ie", "cat", "[SEP]"], [None, 0, 1, 1, 1, 2, None],
         ["[CLS]", "the", "unbelie", "cat", "[SEP]"], [0, 1, 2, 2, 2, 3, 4]),
        (["The", "Ġcat", "Ġsat", "s"], [0, 1, 2, 2], ["The", "cat", "sats"], [0, 1, 2, 2]),
        (["[CLS]", "[SEP]"], [None, None], ["[CLS]", "[SEP]"], [0, 1]),
    ],
)
def test_word_axis_merges_subwords_and_keeps_specials_as_words(
    tokens: list[str], word_ids: list[int | None], words: list[str], index: list[int]
) -> None:
    assert word_axis(tokens, word_ids) == (words, index)


# ---- to_payload on a real run (tiny random BERT, 2 layers, 4 nodes) -------------------------

@pytest.fixture(scope="module")
def tiny_run(tiny_model_dir):
    from ligsite.api import explain
    from ligsite.config import BuildConfig
    from ligsite.samples import Sample, text_id

    text = "The photographer's unbelievably sharp pictures."
    config = BuildConfig(model=str(tiny_model_dir("bert")), steps=4)
    with warnings.catch_warnings():  # 4 nodes on a random model: completeness warnings expected
        warnings.simplefilter("ignore")
        exp = explain(text, model=config.model, steps=4, baselines=config.baselines, device="cpu")
    return exp, Sample(text_id(text), text, "pos", "written for tests"), config


def test_payload_maps_decode_to_the_explanation_within_half_a_step(tiny_run) -> None:
    from ligsite.payload import to_payload

    exp, sample, config = tiny_run
    payload = to_payload(exp, sample, config)
    assert len(payload["maps"]) == len(config.layer_baselines) + len(config.composed) == 11
    for baseline in config.layer_baselines:
        expected = np.stack([exp.z2z(l, baseline) for l in exp.layers])
        stored = payload["maps"][f"direct:{baseline}"]
        assert np.all(np.abs(decode(stored) - expected) <= np.asarray(stored["scale"])[:, None, None] / 2 + 1e-12)
    for att, mlp in config.composed:
        expected = np.stack([exp.composed(l, att, mlp) for l in exp.layers])
        stored = payload["maps"][f"composed:{att}+{mlp}"]
        assert stored["shape"] == [2, len(exp.tokens), len(exp.tokens)]
        assert np.all(np.abs(decode(stored) - expected) <= np.asarray(stored["scale"])[:, None, None] / 2 + 1e-12)


def test_payload_carries_sample_axes_diagnostics_and_provenance(tiny_run) -> None:
    from ligsite.payload import to_payload

    exp, sample, config = tiny_run
    payload = to_payload(exp, sample, config)
    assert (payload["schema"], payload["id"], payload["text"], payload["label"]) == (1, sample.id, sample.text, "pos")
    assert payload["orientation"] == "source,target" and payload["layers"] == [0, 1] and payload["n_heads"] == 4
    assert "unbelievably" in payload["words"]  # un ##bel ##ie ##va ##bly joined on the word axis
    assert [payload["words"][i] for i in payload["word_index"]][:2] == ["[CLS]", "the"]
    ratios = np.array(payload["completeness"]["att:zero"], dtype=float)
    assert ratios.shape == (2, 4, len(exp.tokens))
    np.testing.assert_allclose(ratios[1], exp.completeness("att", 1, "zero"), rtol=1e-5)
    assert payload["completeness"]["layer:itb_zero_ratio"] == payload["completeness"]["layer:self_input_token"]
    assert len(payload["l2"]) == 3 * 8
    summary = exp.l2_summary("zero", "self_input_token", "att_itb_a0")
    entry = payload["l2"]["zero|self_input_token+att_itb_a0"]
    np.testing.assert_allclose(entry["pearson"], summary["pearson"], rtol=1e-5)
    assert entry["pooled"]["rel"] == pytest.approx(summary["pooled"]["rel"], rel=1e-5)
    assert payload["provenance"]["steps"] == 4 and payload["provenance"]["model_type"] == "bert"


def test_payload_json_stays_under_three_bytes_per_stored_value(tiny_run) -> None:
    import orjson

    from ligsite.payload import to_payload

    exp, sample, config = tiny_run
    payload = to_payload(exp, sample, config)
    values = sum(int(np.prod(m["shape"])) for m in payload["maps"].values())
    map_bytes = sum(len(m["data"]) for m in payload["maps"].values())
    assert map_bytes / values <= 2.67 + 0.01
    assert len(orjson.dumps(payload)) < 3 * values + 20_000  # diagnostics are small beside the maps


def test_payload_module_never_imports_torch() -> None:
    import subprocess
    import sys

    code = "import sys, ligsite.payload, ligsite.pipeline; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
