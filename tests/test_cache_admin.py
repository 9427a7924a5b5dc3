"""`ligsite cache ls / verify / prune`: every entry judged from its own record, real files only."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ligsite import diskio
from ligsite.cache import ENGINE_VERSION, ExplanationCache, key_fields, key_of
from ligsite.cache_admin import prune, scan
from ligsite.cli import app
from ligsite.config import BuildConfig
from test_cache import IDENTITY, small_explanation

runner = CliRunner()


@pytest.fixture()
def cache(tmp_path: Path) -> ExplanationCache:
    """A cache with one entry of each kind, a dead writer's temporary file and a live one's."""
    cache = ExplanationCache(tmp_path / "cache")
    fields = key_fields(IDENTITY, BuildConfig(steps=4))
    ok = small_explanation("The cat sat.")
    cache.put(key_of(fields, ok.text), ok, fields)
    old = {**fields, "engine": 0}
    cache.put(key_of(old, "An old one."), small_explanation("An old one."), old)
    legacy = cache.path("ee" * 32)  # written before entries had records
    legacy.parent.mkdir(parents=True, exist_ok=True)
    small_explanation("Legacy.").save(legacy)
    damaged = cache.put(key_of(fields, "Cut."), small_explanation("Cut."), fields)
    damaged.write_bytes(damaged.read_bytes()[:300])
    folder = damaged.parent
    (folder / f".{damaged.name}.otherhost.1.abc.tmp").write_bytes(b"{")  # another machine's, an hour old
    os.utime(folder / f".{damaged.name}.otherhost.1.abc.tmp", (time.time() - 7200,) * 2)
    live = folder / f"{diskio.temporary_prefix('x.json')}live.tmp"  # this process is writing it now
    live.write_bytes(b"{")
    return cache


def test_scan_judges_every_entry_by_its_record(cache: ExplanationCache) -> None:
    result = scan(cache.root)
    by_text = {entry.text or entry.path.stem: entry for entry in result.entries}
    assert {text: entry.status for text, entry in by_text.items() if entry.text} == {
        "The cat sat.": "ok", "An old one.": "stale", "Legacy.": "legacy"}
    (damaged,) = [entry for entry in result.entries if entry.status == "damaged"]
    assert "JSONDecodeError" in damaged.reason or "unexpected" in damaged.reason.lower()
    assert f"engine 0 (now {ENGINE_VERSION})" in by_text["An old one."].reason
    assert len(result.temporary) == 2 and "memo" not in {p.parent.name for p in result.temporary}
    assert result.line().startswith("4 entries in ") and "1 ok, 1 stale, 1 legacy, 1 damaged; 2 temporary files" in result.line()


def test_prune_removes_damaged_stale_and_dead_writers_files_only(cache: ExplanationCache) -> None:
    dry = prune(cache.root, dry_run=True)
    assert sorted(status for _, status in dry.removed) == ["damaged", "stale", "temporary"]
    assert len(scan(cache.root).entries) == 4  # a dry run removes nothing
    done = prune(cache.root)
    assert sorted(status for _, status in done.removed) == ["damaged", "stale", "temporary"]
    left = scan(cache.root)
    assert sorted(entry.status for entry in left.entries) == ["legacy", "ok"]
    assert [p.name.endswith("live.tmp") for p in left.temporary] == [True]  # its writer is alive
    assert sorted(status for _, status in prune(cache.root, legacy=True).removed) == ["legacy"]
    assert [entry.status for entry in scan(cache.root).entries] == ["ok"]


def test_cache_commands_report_and_verify_fails_on_damage(cache: ExplanationCache) -> None:
    listed = runner.invoke(app, ["cache", "ls", "--cache-dir", str(cache.root)])
    assert listed.exit_code == 0, listed.output
    assert "tiny@sha" in listed.stdout and "stale" in listed.stdout and "1 ok, 1 stale, 1 legacy, 1 damaged" in listed.stdout
    long = runner.invoke(app, ["cache", "ls", "-l", "--cache-dir", str(cache.root)])
    assert long.exit_code == 0 and "The cat sat." in long.stdout and "Legacy." in long.stdout
    verify = runner.invoke(app, ["cache", "verify", "--cache-dir", str(cache.root)])
    assert verify.exit_code == 1 and verify.stderr.count("damaged: ") == 1
    assert "1 damaged entries" in verify.stderr and "ligsite cache prune" in verify.stderr
    pruned = runner.invoke(app, ["cache", "prune", "--cache-dir", str(cache.root)])
    assert pruned.exit_code == 0 and "removed 3 files" in pruned.stdout
    again = runner.invoke(app, ["cache", "verify", "--cache-dir", str(cache.root)])
    assert again.exit_code == 0 and "2 entries" in again.stdout


def test_a_missing_cache_folder_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["cache", "ls", "--cache-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "does not exist" in result.stderr


def test_a_stale_entry_is_never_a_hit_for_this_engine(cache: ExplanationCache) -> None:
    fields = key_fields(IDENTITY, BuildConfig(steps=4))
    assert cache.get(key_of(fields, "An old one.")) is None  # its key had engine 0: another file name
    raw = orjson.loads(next(e.path for e in scan(cache.root).entries if e.status == "stale").read_bytes())
    assert raw["cache"]["fields"]["engine"] == 0
