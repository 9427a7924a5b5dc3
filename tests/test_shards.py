"""`ligsite compute --shard i/n`: stable subsets by cache key whose union is the whole build."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ligsite.cache import cache_key
from ligsite.cli import app
from ligsite.config import BuildConfig
from ligsite.errors import InputError
from ligsite.precompute import Shard

WORDS = ["cats", "dogs", "rain", "tea", "maps", "bees", "snow", "ink", "owls", "jazz", "figs", "moss"]
SENTENCES = [f"Shard sentence {n} is about {w}." for n, w in enumerate(WORDS)]
runner = CliRunner()


@pytest.fixture()
def project(tmp_path: Path, tiny_model_dir, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "samples.txt").write_text("\n".join(SENTENCES) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIGSITE_TEST_MODEL", str(tiny_model_dir("bert")))
    return tmp_path


def ligsite(*args: str):
    result = runner.invoke(app, [*args, "--model", os.environ["LIGSITE_TEST_MODEL"], "--steps", "4", "--layers", "1"])
    assert result.exit_code == 0, result.output
    return result


def entries(folder: Path) -> set[str]:
    return {path.stem for path in folder.glob("??/*.json")}


def test_shards_partition_the_samples_by_cache_key_whatever_their_order() -> None:
    keys = [cache_key("m@sha256:0", text, BuildConfig()) for text in SENTENCES * 3]
    for count in (1, 2, 3, 5):
        shards = [Shard(index, count) for index in range(1, count + 1)]
        for key in keys:
            assert sum(shard.holds(key) for shard in shards) == 1
    assert {key for key in keys if Shard(1, 2).holds(key)} == {key for key in reversed(keys) if Shard(1, 2).holds(key)}


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_names_the_form(text: str) -> None:
    with pytest.raises(InputError, match=r"--shard expects i/n with 1 <= i <= n, such as 1/4"):
        Shard.parse(text)


def test_two_shards_copied_into_one_cache_render_the_same_site_as_one_build(project: Path) -> None:
    first = ligsite("compute", "samples.txt", "--shard", "1/2", "--cache-dir", "cache-a")
    second = ligsite("compute", "samples.txt", "--shard", "2/2", "--cache-dir", "cache-b")
    a, b = entries(project / "cache-a"), entries(project / "cache-b")
    assert not a & b and len(a | b) == len(SENTENCES)  # (one shard may be empty by chance: 2 in 4096)
    assert "(shard 1/2)" in first.stdout and "(shard 2/2)" in second.stdout
    for folder in ("cache-a", "cache-b"):  # merging is copying folders
        shutil.copytree(project / folder, project / "merged", dirs_exist_ok=True)
    ligsite("render", "samples.txt", "-o", "from-shards", "--cache-dir", "merged")
    ligsite("build", "samples.txt", "-o", "one-build", "--cache-dir", "whole")
    assert entries(project / "whole") == a | b  # the same keys: a shard computes what a build would
    one, two = project / "one-build/data", project / "from-shards/data"
    names = sorted(path.name for path in one.glob("*.json"))
    assert names == sorted(path.name for path in two.glob("*.json")) and len(names) == len(SENTENCES) + 1
    for name in names:
        assert orjson.loads((one / name).read_bytes()) == orjson.loads((two / name).read_bytes()), name
