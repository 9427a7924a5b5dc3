"""``ligsite cache ls / verify / prune``: what a cache folder holds, whether it is intact, cleaning it.

Every entry records the fields its key was made from (``ligsite.cache``), so an entry can be
judged without the config that made it:

- ``ok``: intact, and of this ligsite and engine version;
- ``stale``: intact but of another ligsite or engine version, so no key of this one can reach it;
- ``legacy``: intact, written before entries carried records (still served when its key comes up);
- ``damaged``: unreadable, cut short, altered, or not what its name says (recomputed when needed).

Leftover temporary files (a writer killed between write and rename) are listed too; ``prune``
removes damaged and stale entries and temporary files older than an hour (``--legacy``: legacy
entries as well). Nothing here imports torch.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ligsite
from ligsite.cache import ENGINE_VERSION, Damaged, read_entry
from ligsite.diskio import TEMP_SUFFIX, host_tag
from ligsite.errors import CacheError

STATUSES = ("ok", "stale", "legacy", "damaged")
TEMP_MAX_AGE_S = 3600.0  # no write takes this long: an older temporary file is a killed writer's


@dataclass(frozen=True)
class EntryInfo:
    """One entry file and what it is (``STATUSES``), with its recorded key fields if any."""

    path: Path
    status: str
    reason: str = ""  # why damaged or stale
    fields: dict | None = None
    text: str = ""
    tokens: int = 0
    size: int = 0


@dataclass(frozen=True)
class CacheScan:
    """Every entry and leftover temporary file of one cache folder."""

    root: Path
    entries: tuple[EntryInfo, ...]
    temporary: tuple[Path, ...]

    def count(self, status: str) -> int:
        return sum(entry.status == status for entry in self.entries)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)

    def line(self) -> str:
        """One sentence: how many entries of each kind, how big, and the temporary files."""
        kinds = ", ".join(f"{self.count(status)} {status}" for status in STATUSES)
        return (f"{len(self.entries)} entries in {self.root} ({self.size / 1e6:.1f} MB): {kinds}; "
                f"{len(self.temporary)} temporary files")


def scan(root: Path) -> CacheScan:
    """Read and check every entry under ``root`` (``<root>/<xx>/<key>.json``); CacheError if no folder."""
    root = Path(root)
    if not root.is_dir():
        raise CacheError(f"cache folder {root} does not exist (give --cache-dir, or run `ligsite compute` first)")
    entries = tuple(_judge(path) for path in _entry_files(root))
    temporary = tuple(sorted(path for path in root.glob("*/.*" + TEMP_SUFFIX) if path.is_file()))
    return CacheScan(root, entries, temporary)


def _entry_files(root: Path) -> Iterator[Path]:
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and len(folder.name) == 2:
            yield from sorted(path for path in folder.glob("*.json") if not path.name.startswith("."))


def _judge(path: Path) -> EntryInfo:
    try:
        size = path.stat().st_size
        entry = read_entry(path)
    except FileNotFoundError:  # removed by a concurrent prune
        return EntryInfo(path, "damaged", "removed while being read")
    except Damaged as problem:
        return EntryInfo(path, "damaged", str(problem), size=size)
    exp = entry.explanation
    info = {"text": exp.text, "tokens": len(exp.tokens), "size": size}
    if entry.record is None:
        return EntryInfo(path, "legacy", "written before entries had records", **info)
    fields = entry.record.get("fields")
    if not isinstance(fields, dict):
        return EntryInfo(path, "legacy", "its record has no key fields", **info)
    current = {"ligsite": ligsite.__version__, "engine": ENGINE_VERSION}
    stale = [f"{name} {fields.get(name)!r} (now {value!r})" for name, value in current.items() if fields.get(name) != value]
    if stale:
        return EntryInfo(path, "stale", "of " + ", ".join(stale), fields, **info)
    return EntryInfo(path, "ok", "", fields, **info)


def groups(result: CacheScan) -> list[tuple[tuple[str, ...], int, int]]:
    """Entries grouped by what made them: ((model, steps, quadrature, dtype, layers, version), count, bytes)."""
    counts: Counter = Counter()
    sizes: Counter = Counter()
    for entry in result.entries:
        fields = entry.fields or {}
        group = (entry.status, str(fields.get("model", "?")), str(fields.get("steps", "?")), str(fields.get("quadrature", "?")),
                 str(fields.get("dtype", "?")), "all" if fields.get("layers", "?") is None else str(fields.get("layers", "?")),
                 f"{fields.get('ligsite', '?')}/{fields.get('engine', '?')}")
        counts[group] += 1
        sizes[group] += entry.size
    return [(group, counts[group], sizes[group]) for group in sorted(counts)]


@dataclass(frozen=True)
class PruneReport:
    """What ``prune`` removed (or would remove with ``dry_run``), by reason."""

    removed: tuple[tuple[Path, str], ...]  # (path, status or "temporary")
    freed: int  # bytes
    dry_run: bool

    def line(self) -> str:
        kinds = Counter(status for _, status in self.removed)
        what = ", ".join(f"{count} {status}" for status, count in sorted(kinds.items())) or "nothing"
        verb = "would remove" if self.dry_run else "removed"
        return f"{verb} {len(self.removed)} files ({self.freed / 1e6:.1f} MB): {what}"


def prune(root: Path, legacy: bool = False, dry_run: bool = False, now: float | None = None) -> PruneReport:
    """Remove damaged and stale entries, temporary files of dead writers, and legacy ones if asked."""
    result = scan(root)
    drop = {"damaged", "stale"} | ({"legacy"} if legacy else set())
    chosen = [(entry.path, entry.status, entry.size) for entry in result.entries if entry.status in drop]
    now = time.time() if now is None else now
    for path in result.temporary:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # its writer finished meanwhile
        if now - stat.st_mtime > TEMP_MAX_AGE_S or _writer_is_gone(path):
            chosen.append((path, "temporary", stat.st_size))
    if not dry_run:
        for path, _, _ in chosen:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as error:
                raise CacheError(f"cannot remove {path}: {error.strerror or error}") from None
    return PruneReport(tuple((path, status) for path, status, _ in chosen), sum(size for *_, size in chosen), dry_run)


def _writer_is_gone(path: Path) -> bool:
    """Whether a temporary file's writer (``.<name>.<host>.<pid>.<random>.tmp``) was on this host and has exited."""
    parts = path.name[: -len(TEMP_SUFFIX)].rsplit(".", 3)
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    if parts[1] != host_tag():
        return False  # another machine's writer: only its age can tell
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def verify_problems(result: CacheScan) -> list[str]:
    """One line per damaged entry: its path and what is wrong."""
    return [f"{entry.path}: {entry.reason}" for entry in result.entries if entry.status == "damaged"]

