"""Writing files so that nothing the user had is lost: one write call, atomic replace, a lock.

Every whole file ligsite writes goes through ``write_bytes`` (the one place a full disk shows up,
and the one place tests simulate it). ``replace_atomically`` writes a temporary file next to the
destination and renames it into place, so a failed write leaves the previous file as it was;
``replacing`` does the same for a file written in pieces (``ligsite analyze``'s streamed CSV).
``locked`` serialises the final step of two ligsite processes writing the same folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:  # POSIX; elsewhere concurrent renders of one folder are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (created or truncated): the single write call of ligsite."""
    with open(path, "wb") as handle:
        handle.write(data)


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` completely or not at all: a temporary sibling file, then a rename (``replacing``)."""
    with replacing(path) as temporary:
        write_bytes(temporary, data)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; renamed onto ``path`` when the block ends, removed
    if it raises (so a failed write leaves the previous file as it was).

    For files written in pieces (a streamed CSV); whole files go through ``replace_atomically``.
    The temporary name (``temporary_prefix``) holds the host and process id plus a random
    part, so writers on several machines sharing one folder (NFS) never pick the same one;
    the rename is atomic, so a reader sees the old file or the new one, never a mix. The file
    gets the usual permissions (0666 less the umask), not mkstemp's private 0600, so a shared
    cache or a served site stays readable. Raises the OSError of the failed step.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path.name), suffix=TEMP_SUFFIX)
    os.close(handle)
    try:
        os.chmod(temporary, 0o666 & ~UMASK)
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


TEMP_SUFFIX = ".tmp"


def temporary_prefix(name: str) -> str:
    """``.<name>.<host>.<pid>.``: whose temporary file it is (``ligsite cache prune`` reads it)."""
    return f".{name}.{host_tag()}.{os.getpid()}."


def host_tag() -> str:
    """This machine's name as it appears in temporary file names (no dots or slashes)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "host"


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; set straight back (once, at import: threads)
    os.umask(mask)
    return mask


UMASK = _read_umask()


def writable_folder_problem(folder: Path) -> str:
    """Why files cannot be created in ``folder`` ("" when they can), without writing anything."""
    folder = Path(folder)
    if not folder.exists():
        return f"folder {folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"folder {folder} is not writable"
    return ""


def reason(error: OSError) -> str:
    """An OSError as a short phrase: "No space left on device", not the errno repr."""
    return error.strerror or str(error) or type(error).__name__


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (created if absent) for the ``with`` block."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(lock_file, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
