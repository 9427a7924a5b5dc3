"""read_samples: .txt and .jsonl files, stable ids, and one clear error per bad file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from ligsite.errors import SamplesError
from ligsite.samples import MAX_TEXT_CHARS, Sample, read_samples, text_id

ODD = [
    "猫がマットの上に座った。",
    "The party was 🎉🔥 great",
    "שלום עולם, hello",
    "cafe\u0301 and nai\u0308ve",
    '</script><script>alert(1)</script> <img src=x onerror="alert(2)">',
]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_txt_skips_blank_lines_and_comments_and_strips_whitespace(tmp_path: Path) -> None:
    path = write(tmp_path, "s.txt", "# a comment\n\n   The cat sat.  \r\n\t# indented comment\nDogs bark.\n\n")
    samples = read_samples(path)
    assert [s.text for s in samples] == ["The cat sat.", "Dogs bark."]
    assert [s.line for s in samples] == [3, 5]


def test_id_is_a_short_sha256_of_the_text_not_a_line_number(tmp_path: Path) -> None:
    first = read_samples(write(tmp_path, "a.txt", "The cat sat.\nDogs bark.\n"))
    moved = read_samples(write(tmp_path, "b.txt", "# new header\n\nNew line first.\nDogs bark.\nThe cat sat.\n"))
    assert first[0].id == hashlib.sha256(b"The cat sat.").hexdigest()[:10]
    assert {s.text: s.id for s in first}.items() <= {s.text: s.id for s in moved}.items()
    assert all(len(s.id) == 10 and s.id != str(s.line) for s in moved)


def test_odd_unicode_and_html_are_kept_verbatim(tmp_path: Path) -> None:
    samples = read_samples(write(tmp_path, "odd.txt", "\n".join(ODD)))
    assert [s.text for s in samples] == ODD


def test_a_line_separator_inside_a_sentence_does_not_split_it(tmp_path: Path) -> None:
    samples = read_samples(write(tmp_path, "ls.txt", "one\u2028two\n"))
    assert [s.text for s in samples] == ["one\u2028two"]


def test_a_byte_order_mark_is_not_part_of_the_first_sentence(tmp_path: Path) -> None:
    samples = read_samples(write(tmp_path, "bom.txt", b"\xef\xbb\xbfHello there.\n"))
    assert samples[0].text == "Hello there."


def test_jsonl_keeps_given_ids_labels_and_sources(tmp_path: Path) -> None:
    lines = [
        {"text": "The cat sat.", "id": "cat-1", "label": "pos", "source": "CC0, written for tests"},
        {"text": "Dogs bark.", "label": 3},
        {"text": ODD[4], "id": "html_case", "extra": "ignored"},
    ]
    path = write(tmp_path, "s.jsonl", "\n".join(orjson.dumps(x).decode() for x in lines) + "\n\n")
    with pytest.warns(UserWarning, match="line 3: unknown key 'extra' is ignored"):
        samples = read_samples(path)
    assert samples[0] == Sample("cat-1", "The cat sat.", "pos", "CC0, written for tests")
    assert samples[1] == Sample(text_id("Dogs bark."), "Dogs bark.", "3", None)
    assert (samples[2].id, samples[2].text) == ("html_case", ODD[4])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", "has no samples"),
        ("comments.txt", "# only a comment\n\n   \n", "has no samples"),
        ("binary.txt", b"abc\n\x00\x01\x02", "looks binary (NUL byte at line 2, byte 4)"),
        ("latin1.txt", "ok line\ncaf\u00e9\n".encode("latin-1"), "not valid UTF-8: line 2, byte offset 11"),
        ("long.txt", "ok\n" + "a" * 100_000 + "\n", f"line 2 has 100,000 characters; the limit is {MAX_TEXT_CHARS:,}"),
        ("bad.jsonl", '{"text": "fine"}\n{"text": "broken"\n', "line 2 is not valid JSON"),
        ("list.jsonl", '["text"]\n', "line 1 is a JSON list, not an object"),
        ("notext.jsonl", '{"txt": "typo"}\n', 'line 1 needs a non-empty string "text"; valid keys: text, id, label, source'),
        ("badid.jsonl", '{"text": "a", "id": "has space"}\n', "line 1: id 'has space' is not usable in a file name; an id is 1-64 characters"),
        ("dupid.jsonl", '{"text": "a", "id": "x"}\n{"text": "b", "id": "x"}\n', "lines 1 and 2 have the same id 'x' but different samples"),
        ("badlabel.jsonl", '{"text": "a", "label": [1]}\n', "has label [1]; give a string or a number"),
    ],
)
def test_bad_files_raise_one_clear_samples_error(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(SamplesError) as info:
        read_samples(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_directory_are_named(tmp_path: Path) -> None:
    with pytest.raises(SamplesError, match="does not exist"):
        read_samples(tmp_path / "nope.txt")
    with pytest.raises(SamplesError, match="is a directory"):
        read_samples(tmp_path)


def test_shipped_examples_are_short_varied_and_include_a_split_word() -> None:
    samples = read_samples(Path(__file__).parents[1] / "examples" / "samples.txt")
    lengths = [len(s.text.split()) for s in samples]
    assert 6 <= len(samples) <= 8
    assert min(lengths) >= 6 and max(lengths) <= 20 and max(lengths) - min(lengths) >= 8
    assert any("unbelievably" in s.text for s in samples)  # WordPiece splits it: un ##bel ##ie ##va ##bly


def test_a_line_of_only_invisible_characters_is_blank(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("\u200b\u200d\n\u00a0 \u2060\nVisible\u200b text.\n", encoding="utf-8")
    samples = read_samples(path)
    assert [(s.text, s.line) for s in samples] == [("Visible\u200b text.", 3)]  # kept verbatim inside
    jsonl = tmp_path / "s.jsonl"
    jsonl.write_text('{"text": "\\u200b"}\n', encoding="utf-8")
    with pytest.raises(SamplesError, match="line 1 needs a non-empty string"):
        read_samples(jsonl)
