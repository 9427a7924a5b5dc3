"""web/tokenText.js in Chromium: byte-level BPE and SentencePiece tokens read as text (issue 9).

The raw tokens come from the real `tokenizers` pre-tokenizers (GPT-2's ByteLevel alphabet,
SentencePiece's Metaspace), so the viewer is checked against the strings models actually produce.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tokenizers.pre_tokenizers import ByteLevel, Metaspace

sys.path.insert(0, str(Path(__file__).parent))
from jsunit import make_payload, unit_page, unit_server  # noqa: E402,F401

pytestmark = pytest.mark.slow

LABELS_JS = ("async ([texts, tokens]) => { const t = await import('/web/tokenText.js');"
             " return {labels: t.tokenLabels(texts, tokens || texts), scheme: t.tokenScheme(tokens || texts)}; }")


def _byte_level(text: str) -> list[str]:
    return [piece for piece, _ in ByteLevel(add_prefix_space=False).pre_tokenize_str(text)]


def test_byte_level_tokens_read_as_words_with_a_visible_word_start(unit_page: object) -> None:
    tokens = _byte_level("Hello world\n café 猫")
    assert tokens == ["Hello", "Ġworld", "Ċ", "ĠcafÃ©", "ĠçĮ«"]  # what GPT-2 stores
    seen = unit_page.evaluate(LABELS_JS, [tokens, None])
    assert seen["scheme"] == "bytes"
    assert seen["labels"] == ["Hello", "·world", "↵", "·café", "·猫"]


def test_a_character_split_across_tokens_keeps_its_stand_ins(unit_page: object) -> None:
    whole = _byte_level(" 猫")[0]  # "ĠçĮ«": three UTF-8 bytes
    halves = [whole[:2], whole[2:]]  # "Ġç" + "Į«": neither is valid UTF-8 alone
    seen = unit_page.evaluate(LABELS_JS, [halves, None])
    assert seen["labels"] == ["·ç", "Į«"]  # the space mark is read, the bytes are not guessed


def test_sentencepiece_word_starts_read_as_spaces(unit_page: object) -> None:
    tokens = ["<s>"] + [p for p, _ in Metaspace().pre_tokenize_str("The cats")] + ["s", "</s>"]
    assert tokens[1] == "▁The"
    seen = unit_page.evaluate(LABELS_JS, [tokens, None])
    assert seen["scheme"] == "sentencepiece"
    assert seen["labels"] == ["<s>", "·The", "·cats", "s", "</s>"]


def test_wordpiece_and_latin1_tokens_are_left_exactly_as_they_are(unit_page: object) -> None:
    tokens = ["[CLS]", "caf", "##é", "naïve", "Ã©", "[SEP]"]  # no byte-level mark: not decoded
    seen = unit_page.evaluate(LABELS_JS, [tokens, None])
    assert seen["scheme"] == "plain" and seen["labels"] == tokens


def test_words_of_a_byte_level_sample_are_decoded_and_the_payload_keeps_raw_tokens(unit_page: object) -> None:
    tokens = _byte_level("the café")  # ["the", "ĠcafÃ©"]
    words = ["the", "cafÃ©"]  # payload.word_axis strips the leading "Ġ"
    payload, _ = make_payload(tokens, [0, 1], words, n_layers=1)
    seen = unit_page.evaluate(
        "async ([payload]) => { const w = await import('/web/words.js');"
        " const layers = [new Float32Array(4)];"
        " return {token: w.axisLayers(layers, payload, 'token').labels,"
        "         word: w.axisLayers(layers, payload, 'word').labels, raw: payload.tokens}; }", [payload])
    assert seen["token"] == ["the", "·café"] and seen["word"] == ["the", "café"]
    assert seen["raw"] == tokens  # display only: the data keep the tokenizer's strings


def test_exports_show_the_readable_tokens(unit_page: object) -> None:
    tokens = _byte_level("a café")
    payload, decoded = make_payload(tokens, [0, 1], ["a", "cafÃ©"], n_layers=1)
    csv_head = unit_page.evaluate(
        "async ([payload, xs]) => { const vm = await import('/web/viewModel.js');"
        " const ex = await import('/web/export.js');"
        " const state = {sample: 's', route: 'direct', layerBaseline: 'zero', layer: 0, norm: 'raw', axis: 'token'};"
        " const v = vm.buildViewModel(state, payload, () => [Float32Array.from(xs)]);"
        " return ex.exportCSV(v.panels[0].values, v.labels).split('\\n')[0]; }",
        [payload, decoded["direct:zero"][0].ravel().tolist()])
    assert csv_head == "target \\ source,0:a,1:·café"


UNKNOWN_JS = ("async ([tokens, unknown]) => { const t = await import('/web/tokenText.js');"
              " const words = tokens.slice();"
              " return {tokens: t.tokenLabels(tokens, tokens, unknown), words: t.tokenLabels(words, tokens, unknown)}; }")


def test_unknown_tokens_show_the_characters_they_stand_for_on_the_token_axis(unit_page: object) -> None:
    """Issue 13: payload.unk_text (index -> characters) labels [UNK] tokens; a control character
    in them is drawn visibly, and the word axis (labelled in Python) is left as it is."""
    tokens = ["[CLS]", "[UNK]", "a", "[UNK]", "[SEP]"]
    seen = unit_page.evaluate(UNKNOWN_JS, [tokens, {"1": "☃", "3": "\u0007🐱"}])
    assert seen["tokens"] == ["[CLS]", "[UNK]→☃", "a", "[UNK]→\\x07🐱", "[SEP]"]
    assert seen["words"] == tokens
    assert unit_page.evaluate(UNKNOWN_JS, [tokens, None])["tokens"] == tokens  # older payloads: no unk_text
