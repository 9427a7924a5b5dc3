"""The precompute cache: what its key depends on, atomic writes, and recovery from bad entries."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ligsite import diskio
from ligsite.cache import ExplanationCache, cache_key
from ligsite.config import BuildConfig
from ligsite.explanation import Explanation, Run

IDENTITY = "tiny@sha256:0123456789abcdef"


def small_explanation(text: str = "The cat sat.") -> Explanation:
    """A real Explanation holding one layer run on 3 tokens (values arbitrary but fixed)."""
    scores = np.arange(9, dtype=float).reshape(1, 3, 3) - 4.0  # [nL, T_src, T_tgt]
    scores[0, :, 2] = np.nan  # target 2 not computed
    return Explanation(
        text=text, tokens=["[CLS]", "cat", "[SEP]"], word_ids=[None, 0, None], model="tiny",
        model_identity=IDENTITY, model_type="bert", n_heads=2, layers=[0], targets=[0, 1],
        steps=4, quadrature="gauss-legendre", dtype="float32", tolerance=0.02,
        baselines={"layer": ["zero"]},
        runs={"layer:zero": Run(scores, np.array([[1.0, 2.0, np.nan]]), np.array([[1.0, 0.99, np.nan]]),
                                np.array([[4, 4, 0]]))},
    )


@pytest.mark.parametrize(
    "change",
    [
        {"steps": 16}, {"steps": "auto"}, {"quadrature": "trapezoid-captum"}, {"layers": (0,)},
        {"dtype": "float64"}, {"layer_baselines": ("zero",)}, {"composed": (("zero", "zero"),)},
    ],
)
def test_key_changes_with_every_setting_that_changes_the_numbers(change: dict) -> None:
    config = BuildConfig(steps=32)  # not the default "auto", so that changing to "auto" is a change
    assert cache_key(IDENTITY, "The cat sat.", replace(config, **change)) != cache_key(IDENTITY, "The cat sat.", config)


def test_key_changes_with_text_and_model_identity_but_not_with_site_options() -> None:
    config = BuildConfig()
    key = cache_key(IDENTITY, "The cat sat.", config)
    assert cache_key(IDENTITY, "The cat sat!", config) != key
    assert cache_key("tiny@sha256:ffff", "The cat sat.", config) != key
    site_only = replace(config, title="Other", description="x", cache_dir=Path("elsewhere"), device="cpu")
    assert cache_key(IDENTITY, "The cat sat.", site_only) == key
    assert len(key) == 64 and int(key, 16) >= 0


def test_layers_order_does_not_change_the_key() -> None:
    config = BuildConfig()
    assert cache_key(IDENTITY, "a", replace(config, layers=(2, 0))) == cache_key(IDENTITY, "a", replace(config, layers=(0, 2)))


def test_put_then_get_returns_the_same_numbers(tmp_path: Path) -> None:
    cache = ExplanationCache(tmp_path)
    original = small_explanation()
    cache.put("ab" * 32, original)
    restored = cache.get("ab" * 32, original.text)
    assert restored is not None and "ab" * 32 in cache
    np.testing.assert_array_equal(restored.z2z(0, "zero"), original.z2z(0, "zero"))
    assert restored.tokens == original.tokens
    assert [p.name for p in tmp_path.rglob("*")] == ["ab", "ab" * 32 + ".json"]  # no temp files left


def test_an_interrupted_write_leaves_no_entry_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(path: Path, data: bytes) -> None:
        Path(path).write_bytes(data[:20])  # the first bytes, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(diskio, "write_bytes", interrupted)
    cache = ExplanationCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cache.put("cd" * 32, small_explanation())
    assert "cd" * 32 not in cache
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_corrupt_entry_warns_and_is_treated_as_missing(tmp_path: Path) -> None:
    cache = ExplanationCache(tmp_path)
    path = cache.path("ef" * 32)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"schema": 1, "text": "trunc')
    with pytest.warns(UserWarning, match="unreadable.*recomputing"):
        assert cache.get("ef" * 32) is None
    cache.put("ef" * 32, small_explanation())  # recomputing replaces it
    assert cache.get("ef" * 32) is not None


def test_an_entry_holding_another_text_is_not_served(tmp_path: Path) -> None:
    cache = ExplanationCache(tmp_path)
    cache.put("01" * 32, small_explanation("Another text."))
    with pytest.warns(UserWarning, match="holds another text"):
        assert cache.get("01" * 32, "The cat sat.") is None


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda doc: [], "AttributeError"),  # valid JSON, not an object
        (lambda doc: "x", "AttributeError"),
        (lambda doc: {**doc, "runs": None}, "AttributeError"),
        (lambda doc: {**doc, "word_ids": [None]}, "word_ids do not match the tokens"),
        (lambda doc: {**doc, "tokens": ["[CLS]", 7, "[SEP]"]}, "text or tokens are not strings"),
        (lambda doc: {**doc, "layers": []}, "layers or targets are not lists of indices"),
        (lambda doc: {**doc, "warnings": "oops"}, "warnings are not a list of lines"),
    ],
)
def test_an_entry_of_the_wrong_shape_is_recomputed_not_served(tmp_path: Path, damage, reason: str) -> None:
    """Shapes are checked even where no checksum can help: an entry written before records."""
    import orjson

    cache = ExplanationCache(tmp_path)
    path = cache.put("cd" * 32, small_explanation())
    doc = orjson.loads(path.read_bytes())
    del doc["cache"]  # a legacy entry: nothing but the Explanation document
    path.write_bytes(orjson.dumps(damage(doc)))
    with pytest.warns(UserWarning, match=f"unreadable \\(.*{reason}.*\\); recomputing"):
        assert cache.get("cd" * 32, "The cat sat.") is None


def test_an_intact_entry_has_no_inconsistency(tmp_path: Path) -> None:
    from ligsite.cache import inconsistency

    cache = ExplanationCache(tmp_path)
    cache.put("cd" * 32, small_explanation())
    assert inconsistency(cache.get("cd" * 32)) == ""


# ---- records, checksums, temporary names, concurrent writers (issue 11) -----------------------


def test_every_entry_records_its_key_fields_so_its_key_can_be_recomputed(tmp_path: Path) -> None:
    import orjson

    from ligsite.cache import key_fields, key_of

    config = BuildConfig(steps=4)
    fields = key_fields(IDENTITY, config)
    key = cache_key(IDENTITY, "The cat sat.", config)
    doc = orjson.loads(ExplanationCache(tmp_path).put(key, small_explanation(), fields).read_bytes())
    record = doc["cache"]
    assert next(iter(doc)) == "cache" and record["key"] == key and record["fields"] == fields
    assert record["fields"]["steps"] == 4 and record["fields"]["engine"] >= 1 and record["host"]
    assert key_of(record["fields"], doc["text"]) == key
    assert Explanation.load(ExplanationCache(tmp_path).path(key)).text == "The cat sat."  # still an Explanation file


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_a_truncated_entry_is_detected_and_treated_as_missing(tmp_path: Path, cut: float) -> None:
    cache = ExplanationCache(tmp_path)
    path = cache.put("ab" * 32, small_explanation())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.warns(UserWarning, match="unreadable.*recomputing"):
        assert cache.get("ab" * 32) is None


def test_one_altered_number_in_valid_json_fails_the_checksum(tmp_path: Path) -> None:
    cache = ExplanationCache(tmp_path)
    path = cache.put("ab" * 32, small_explanation())
    data = path.read_bytes()
    altered = data.replace(b"[-4.0,-3.0", b"[-4.0,-3.5", 1)
    assert altered != data
    path.write_bytes(altered)
    with pytest.warns(UserWarning, match="checksum mismatch"):
        assert cache.get("ab" * 32) is None


def test_an_entry_copied_under_another_key_is_not_served(tmp_path: Path) -> None:
    cache = ExplanationCache(tmp_path)
    source = cache.put("ab" * 32, small_explanation())
    target = cache.path("cd" * 32)
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes())
    with pytest.warns(UserWarning, match="records the key abababababab"):
        assert cache.get("cd" * 32) is None


def test_temporary_names_hold_host_and_process_and_files_are_not_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import socket

    seen: list[str] = []
    real = diskio.write_bytes

    def spy(path: Path, data: bytes) -> None:
        seen.append(Path(path).name)
        real(path, data)

    monkeypatch.setattr(diskio, "write_bytes", spy)
    path = ExplanationCache(tmp_path).put("ab" * 32, small_explanation())
    (name,) = seen
    host = "".join(c if c.isalnum() or c in "_-" else "-" for c in socket.gethostname())[:40]
    assert name.startswith(f".{'ab' * 32}.json.{host}.{os.getpid()}.") and name.endswith(".tmp")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable by the group and others, like any file


WRITER = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_cache import small_explanation
from ligsite.cache import ExplanationCache
cache = ExplanationCache(Path({root!r}))
for round in range(40):
    for key in ("ab" * 32, "cd" * 32):
        cache.put(key, small_explanation())
        assert cache.get(key, "The cat sat.") is not None, key
print("ok")
"""


def test_two_processes_writing_the_same_entries_at_once_never_see_a_damaged_one(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = WRITER.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    writers = [subprocess.Popen([sys.executable, "-W", "error::UserWarning", "-c", script],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [writer.communicate(timeout=120) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], results
    assert all(out.strip() == "ok" for out, _ in results)
    files = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["ab" * 32 + ".json", "cd" * 32 + ".json"]  # no temporary file left behind
    cache = ExplanationCache(tmp_path)
    assert all(cache.get(key, "The cat sat.") is not None for key in ("ab" * 32, "cd" * 32))
