"""payload: int16 maps with a per-layer scale, rounding, the word axis, and to_payload on a real run."""

from __future__ import annotations

import base64

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
