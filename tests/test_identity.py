"""Model identity from files alone (ligsite.models.identity): no torch, hashes remembered by size and mtime."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ligsite.models.identity import file_sha256, model_identity, model_type


def test_identity_and_type_come_from_files_without_torch(tiny_model_dir) -> None:
    folder = tiny_model_dir("bert")
    code = ("import sys\nfrom ligsite.models.identity import model_identity, model_type\n"
            f"print(model_identity({str(folder)!r}), model_type({str(folder)!r}))\n"
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [f"{model_identity(folder)} bert", "[]"]
    from ligsite.models.loading import model_identity as reexported

    assert reexported(folder) == model_identity(folder) and model_type(folder) == "bert"


def test_a_weight_hash_is_remembered_by_path_size_and_mtime(tmp_path: Path) -> None:
    weights, memo = tmp_path / "model.safetensors", tmp_path / "memo"
    weights.write_bytes(b"a" * 1000)
    first = file_sha256(weights, memo)
    assert len(list(memo.glob("*.memo"))) == 1
    stat = weights.stat()
    weights.write_bytes(b"b" * 1000)  # same size; the same mtime restored: the memo answers
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_sha256(weights, memo) == first
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new mtime: hashed again
    assert file_sha256(weights, memo) != first
    next(memo.glob("*.memo")).write_text("{garbage")  # a damaged memo is only a slower start
    assert file_sha256(weights, memo) == file_sha256(weights, None)
