"""Read a SAMPLES file (.txt or .jsonl) into a list of ``Sample``.

A sample's id is the one given in a .jsonl file, else a short hash of its text — never a line
number — so links to ``s/<id>.html`` survive edits to the file. Every problem with the file is
one ``SamplesError`` line that names the file, the line and what is valid, so the CLI can print
it and exit; nothing here knows about models (the model's own length limit is the engine's).

Text is kept verbatim (CJK, emoji, RTL, combining marks, HTML): escaping is the renderer's job.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ligsite.errors import SamplesError

MAX_TEXT_CHARS = 50_000  # far above any model context; stops a runaway line before tokenizing
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # no "/", "." or "..": an id cannot leave its folder
# ids name files (data/<id>.json, s/<id>.html): not the manifest's name, nor a Windows device name
RESERVED_IDS = frozenset({"manifest", "con", "prn", "aux", "nul", *(f"{d}{n}" for d in ("com", "lpt") for n in range(1, 10))})
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSONL_KEYS = ("text", "id", "label", "source")
# format characters that str.strip keeps but that show nothing: a line of only these is blank
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


@dataclass(frozen=True)
class Sample:
    """One sentence to explain, with where it came from (``line`` is for messages only)."""

    id: str
    text: str
    label: str | None = None
    source: str | None = None  # licence / provenance note
    line: int = field(default=0, compare=False)


def id_problem(value: object) -> str:
    """Why ``value`` cannot be a sample id ("" when it can): ids become file names."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        return (f"id {value!r} is not usable in a file name; an id is 1-64 characters of letters, "
                f"digits, '_' or '-'")
    if value.lower() in RESERVED_IDS:
        return f"id {value!r} is reserved (it names a file of the site); reserved: {', '.join(sorted(RESERVED_IDS))}"
    return ""


def text_id(text: str) -> str:
    """The id of a sample with none given: 10 hex digits of sha256(text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def read_samples(path: str | Path) -> list[Sample]:
    """All samples of a .txt (one per line) or .jsonl file, in file order, ids unique.

    A sentence given twice (same text, same id) is kept once, at its first line, with one
    warning naming the lines; two different sentences with one id are an error.
    """
    path = Path(path)
    lines = _decoded_lines(path)
    if path.suffix.lower() in JSONL_SUFFIXES:
        unknown: dict[str, list[int]] = {}
        samples = [_jsonl_sample(path, number, line, unknown) for number, line in lines if line.strip()]
        _warn_unknown_keys(path, unknown)
    else:
        samples = [_text_sample(path, number, line) for number, line in lines]
        samples = [sample for sample in samples if sample is not None]
    if not samples:
        raise SamplesError(
            f"{path} has no samples: write one sentence per line (blank lines and # comments "
            f"are skipped), or one JSON object with a \"text\" key per line in a .jsonl file"
        )
    return _unique(path, samples)


def _decoded_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, line) pairs of a UTF-8 text file; every way it can fail is one message."""
    if not path.exists():
        raise SamplesError(f"samples file {path} does not exist")
    if path.is_dir():
        raise SamplesError(f"samples file {path} is a directory; give a .txt or .jsonl file")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SamplesError(f"cannot read samples file {path}: {error.strerror}") from None
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        raise SamplesError(
            f"{path} looks binary (NUL byte at line {_line_of(raw, offset)}, byte {offset}); "
            f"give UTF-8 text, one sentence per line"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        start = error.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        raise SamplesError(
            f"{path} is not valid UTF-8: line {_line_of(raw, start)}, byte offset "
            f"{start} ({error.reason}); save the file as UTF-8"
        ) from None
    # split on "\n" only: str.splitlines would also split on U+2028 and friends inside a sentence
    return [(number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), start=1)]


def _visible(text: str) -> bool:
    """Whether ``text`` shows anything: not only whitespace and zero-width characters."""
    return bool(text.translate(INVISIBLE).strip())


def _line_of(raw: bytes, offset: int) -> int:
    """1-based line number of byte ``offset``."""
    return raw.count(b"\n", 0, offset) + 1


def _check_length(path: Path, number: int, text: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise SamplesError(
            f"{path} line {number} has {len(text):,} characters; the limit is "
            f"{MAX_TEXT_CHARS:,} per sample (one sentence per line)"
        )


def _text_sample(path: Path, number: int, line: str) -> Sample | None:
    text = line.strip()
    if not _visible(text) or text.startswith("#"):
        return None
    _check_length(path, number, text)
    return Sample(id=text_id(text), text=text, line=number)


def _jsonl_sample(path: Path, number: int, line: str, unknown: dict[str, list[int]]) -> Sample:
    where = f"{path} line {number}"
    _check_length(path, number, line)
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise SamplesError(f"{where} is not valid JSON ({error}); each line must be one object") from None
    if not isinstance(record, dict):
        raise SamplesError(f"{where} is a JSON {type(record).__name__}, not an object with a \"text\" key")
    for key in record:
        if key not in JSONL_KEYS:
            unknown.setdefault(key, []).append(number)
    text = record.get("text")
    if not isinstance(text, str) or not _visible(text):
        raise SamplesError(f"{where} needs a non-empty string \"text\"; valid keys: {', '.join(JSONL_KEYS)}")
    text = text.strip()
    given = record.get("id")
    if given is not None and id_problem(given):
        raise SamplesError(f"{where}: {id_problem(given)}")
    return Sample(
        id=given or text_id(text),
        text=text,
        label=_optional_text(where, "label", record.get("label")),
        source=_optional_text(where, "source", record.get("source")),
        line=number,
    )


def _optional_text(where: str, key: str, value: Any) -> str | None:
    """label / source: a string, a number (kept as its text) or absent."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise SamplesError(f"{where} has {key} {value!r}; give a string or a number")


def _warn_unknown_keys(path: Path, unknown: dict[str, list[int]]) -> None:
    """One warning per unknown key (a typo such as "lable" would otherwise vanish silently)."""
    for key, numbers in unknown.items():
        lines = ", ".join(map(str, numbers[:5])) + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")
        warnings.warn(f"{path} line{'s' if len(numbers) > 1 else ''} {lines}: unknown key {key!r} is "
                      f"ignored; valid keys: {', '.join(JSONL_KEYS)}", stacklevel=3)


def _unique(path: Path, samples: list[Sample]) -> list[Sample]:
    """``samples`` with repeated sentences dropped (one warning); an id clash is an error.

    Ids are compared ignoring case: they name files, and "Cat.json" is "cat.json" on macOS.
    """
    seen: dict[str, Sample] = {}
    kept: list[Sample] = []
    repeats: list[str] = []
    for sample in samples:  # once per file, not a hot path
        first = seen.setdefault(sample.id.lower(), sample)
        if first is sample:
            kept.append(sample)
        elif first == sample:  # id, text, label and source (not the line)
            repeats.append(f"line {sample.line} repeats line {first.line}")
        else:
            raise SamplesError(
                f"{path} lines {first.line} and {sample.line} have the same id {sample.id!r}"
                f"{f' (as {first.id!r}, ids are compared ignoring case)' if first.id != sample.id else ''} "
                f"but different samples; ids must be unique"
            )
    if repeats:
        shown = "; ".join(repeats[:5]) + (f"; and {len(repeats) - 5} more" if len(repeats) > 5 else "")
        warnings.warn(f"{path}: {len(repeats)} repeated sentence{'s' if len(repeats) > 1 else ''} "
                      f"skipped, the first line of each is kept ({shown})", stacklevel=3)
    return kept
