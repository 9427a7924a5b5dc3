"""Issue 8, "lose nothing, ever": each numbered case of the issue is a test here.

Failing cases give one ``error:`` line and exit 1 (never a traceback); warn-only cases exit 0
with their ``warning:`` line; no file the user had is lost. A full disk is simulated by an
``OSError(ENOSPC)`` raised at ligsite's one write call (``diskio.write_bytes``), after part of the
data is written, because no small filesystem can be mounted here.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import orjson
import pytest
import torch
from typer.testing import CliRunner

from ligsite import diskio
from ligsite.api import explain
from ligsite.cache import ExplanationCache, nonfinite
from ligsite.cli import app
from ligsite.config import MAX_STEPS, BuildConfig, load_config
from ligsite.errors import InputError, NumericalError, SamplesError, SiteError
from ligsite.explanation import Explanation, Run
from ligsite.lig.completeness import AUTO_CAP, RouteRun
from ligsite.models.tokens import UnknownTokensWarning, tokenize
from ligsite.runs import _check_route
from ligsite.samples import read_samples, text_id
from ligsite.site import MARKER, SiteMeta, render_site, safe_link

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::ligsite.api.CompletenessWarning")
FAST = '[baselines]\nlayer = ["zero"]\ncomposed = []\n'  # one raw run per layer: a build in seconds
SENTENCE = "The cat sat on the mat."


# ---- helpers --------------------------------------------------------------------------------


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir) -> Path:
    """A folder with one.txt and a fast ligsite.toml; commands run inside it."""
    (tmp_path / "one.txt").write_text(SENTENCE + "\n", encoding="utf-8")
    (tmp_path / "ligsite.toml").write_text(f'model = "{tiny_model_dir("bert")}"\nsteps = 2\n' + FAST)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def ligsite(*args: str):
    return runner.invoke(app, list(args))


def one_error(result, fragment: str) -> str:
    """The single ``error:`` line of a failed command (exit 1, no traceback), checked for ``fragment``."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def full_disk_for(marker: str):
    """A ``write_bytes`` that writes half of the data then fails with ENOSPC for paths with ``marker``."""
    real = diskio.write_bytes

    def write(path: Path, data: bytes) -> None:
        if marker not in str(path):
            return real(path, data)
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    return write


def payload(sample_id: str, text: str = "a b") -> dict:
    """A minimal schema-1 payload (2 tokens, 1 layer, one map): what render_site checks and writes."""
    data = base64.b64encode(np.arange(4, dtype="<i2").tobytes()).decode()
    return {"schema": 1, "id": sample_id, "text": text, "tokens": ["a", "b"], "layers": [0],
            "maps": {"direct:zero": {"dtype": "int16", "shape": [1, 2, 2], "scale": [1.0], "data": data}}}


def copy_model(source: Path, target: Path, skip: tuple[str, ...] = ()) -> Path:
    target.mkdir()
    for item in source.iterdir():
        if item.name not in skip:
            shutil.copy(item, target / item.name)
    return target


# ---- 1. build -o into a folder that is not a ligsite site ------------------------------------


def test_build_refuses_a_non_ligsite_folder_before_computing_and_keeps_its_files(project: Path) -> None:
    (project / "proj/data").mkdir(parents=True)
    (project / "proj/data/important.csv").write_text("x\n")
    result = ligsite("build", "one.txt", "-o", "proj")
    one_error(result, "proj is not a ligsite site")
    assert "--force" in result.output and "computed" not in result.output  # refused before computing
    assert snapshot(project / "proj") == {"data/important.csv": hashlib.sha256(b"x\n").hexdigest()}


def test_build_force_writes_beside_the_users_files_and_marks_the_site(project: Path) -> None:
    (project / "proj/data").mkdir(parents=True)
    (project / "proj/data/important.csv").write_text("x\n")
    assert ligsite("build", "one.txt", "-o", "proj", "--force").exit_code == 0
    assert (project / "proj/data/important.csv").read_text() == "x\n"
    listed = orjson.loads((project / "proj" / MARKER).read_bytes())["files"]
    assert "data/important.csv" not in listed and f"data/{text_id(SENTENCE)}.json" in listed
    assert ligsite("build", "one.txt", "-o", "proj").exit_code == 0  # now a ligsite site: no --force


def test_build_into_the_current_empty_folder_works_with_the_cache_inside(project: Path, monkeypatch) -> None:
    (project / "here").mkdir()
    monkeypatch.chdir(project / "here")  # the default cache lands in "." too: it is ligsite's own
    result = ligsite("build", "../one.txt", "-o", ".", "--config", "../ligsite.toml")
    assert result.exit_code == 0, result.output
    assert (project / "here/index.html").is_file() and (project / "here/.ligsite-cache").is_dir()
    assert sorted(p.name for p in project.iterdir()) == ["here", "ligsite.toml", "one.txt"]  # no staging left


def test_rerender_replaces_only_ligsite_files_and_drops_its_stale_ones(tmp_path: Path) -> None:
    out = tmp_path / "site"
    render_site([payload("one"), payload("two")], out, SiteMeta())
    for name, text in {"CNAME": "example.org", "figures/f.svg": "<svg/>", "data/notes.txt": "mine"}.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    render_site([payload("one")], out, SiteMeta())
    assert (out / "CNAME").read_text() == "example.org" and (out / "figures/f.svg").is_file()
    assert (out / "data/notes.txt").read_text() == "mine"
    assert not (out / "data/two.json").exists() and not (out / "s/two.html").exists()
    assert (out / "data/one.json").is_file()


def test_a_user_file_where_ligsite_would_write_is_refused_without_force(tmp_path: Path) -> None:
    out = tmp_path / "site"
    render_site([payload("one")], out, SiteMeta())
    (out / "s/about.html").write_text("my page")
    with pytest.raises(SiteError, match=r"about.html was not written by ligsite"):
        render_site([payload("one"), payload("about")], out, SiteMeta())
    assert (out / "s/about.html").read_text() == "my page"


def test_a_file_given_as_the_site_folder_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "site").write_text("not a folder")
    with pytest.raises(SiteError, match="is a file"):
        render_site([payload("one")], tmp_path / "site", SiteMeta())


# ---- 2. NaN / Inf from the model ------------------------------------------------------------


@pytest.fixture(scope="module")
def overflowing_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny BERT with block 0's output weights scaled by 1e36: its forward pass overflows fp32."""
    from safetensors.torch import load_file, save_file

    folder = copy_model(tiny_model_dir("bert"), tmp_path_factory.mktemp("overflow") / "model")
    weights = load_file(folder / "model.safetensors")
    weights["encoder.layer.0.output.dense.weight"] *= 1e36
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def test_a_model_that_overflows_fails_the_sample_and_caches_nothing(project: Path, overflowing_model: Path) -> None:
    result = ligsite("build", "one.txt", "-o", "site", "--model", str(overflowing_model))
    assert result.exit_code == 1, result.output
    assert f"sample {text_id(SENTENCE)} (line 1): the forward pass" in result.output
    assert "non-finite values (NaN or Inf) in block 0's output" in result.output
    assert "Traceback" not in result.output and not (project / "site").exists()
    assert not list((project / ".ligsite-cache").rglob("*.json"))


def test_non_finite_route_output_names_layer_and_route_but_a_nan_ratio_of_nothing_is_fine() -> None:
    finite = RouteRun(torch.zeros(2, 3), torch.tensor([0.0, 1.0]), torch.tensor([float("nan"), 1.0]),
                      torch.tensor([4, 4]))
    _check_route(finite, 3, "layer:zero", torch.float32)  # NaN ratio where L(x) = 0: nothing to attribute
    inf = RouteRun(torch.tensor([[1.0, float("inf"), 0.0], [0, 0, 0]]), torch.ones(2), torch.ones(2), torch.tensor([4, 4]))
    with pytest.raises(NumericalError, match=r"layer 3 route att:zero: the scores hold non-finite"):
        _check_route(inf, 3, "att:zero", torch.float32)
    nan_ratio = RouteRun(torch.zeros(2, 3), torch.ones(2), torch.tensor([float("nan"), 1.0]), torch.tensor([4, 4]))
    with pytest.raises(NumericalError, match="completeness ratios hold non-finite"):
        _check_route(nan_ratio, 0, "mlp:zero", torch.float32)


def small_explanation(scores: np.ndarray) -> Explanation:
    """One layer run on 3 tokens, target 2 not computed (a NaN column, steps 0)."""
    return Explanation(
        text="The cat sat.", tokens=["[CLS]", "cat", "[SEP]"], word_ids=[None, 0, None], model="tiny",
        model_identity="tiny@sha256:0", model_type="bert", n_heads=2, layers=[0], targets=[0, 1],
        steps=4, quadrature="gauss-legendre", dtype="float32", tolerance=0.02, baselines={"layer": ["zero"]},
        runs={"layer:zero": Run(scores, np.array([[1.0, 2.0, np.nan]]), np.array([[1.0, 1.0, np.nan]]),
                                np.array([[4, 4, 0]]))})


def test_stored_explanations_with_inf_or_nan_at_computed_targets_are_not_used(tmp_path: Path) -> None:
    good = np.zeros((1, 3, 3))
    good[0, :, 2] = np.nan  # target 2 not computed: NaN is its marker
    assert nonfinite(small_explanation(good)) == ""
    bad = good.copy()
    bad[0, 1, 0] = np.inf
    assert nonfinite(small_explanation(bad)) == "layer:zero scores hold Inf"
    bad[0, 1, 0] = np.nan
    assert "NaN at computed targets of layer 0" in nonfinite(small_explanation(bad))
    cache = ExplanationCache(tmp_path)
    cache.put("ab" * 32, small_explanation(bad))
    with pytest.warns(UserWarning, match="NaN at computed targets"):
        assert cache.get("ab" * 32) is None


def test_render_explanations_refuses_a_file_with_inf(tmp_path: Path) -> None:
    from ligsite.pipeline import load_explanations
    from ligsite.samples import Sample

    scores = np.zeros((1, 3, 3))
    scores[0, 0, 1] = -np.inf
    (tmp_path / "e").mkdir()
    small_explanation(scores).save(tmp_path / "e" / "bad.json")  # JSON has no Inf: it is stored as null
    with pytest.raises(SamplesError, match=r"bad.json is not a usable Explanation \(layer:zero scores hold NaN at computed"):
        load_explanations([Sample("x", "The cat sat.")], tmp_path / "e")


# ---- 3. tokenizer ---------------------------------------------------------------------------


def test_a_model_folder_without_tokenizer_is_refused(tmp_path: Path, tiny_model_dir) -> None:
    folder = copy_model(tiny_model_dir("bert"), tmp_path / "notok", skip=("tokenizer.json", "tokenizer_config.json",
                                                                         "vocab.txt", "special_tokens_map.json"))
    one_error(ligsite("explain", "the cat", "--model", str(folder), "--steps", "2"), "has no tokenizer")


def test_mostly_unknown_tokens_warn_naming_the_sentence(minilm_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    with pytest.warns(UnknownTokensWarning, match=r"3 of 4 tokens of '🦜 🦩 🦚 ok' are unknown"):
        tokenize(tokenizer, "🦜 🦩 🦚 ok", 128)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownTokensWarning)
        tokenize(tokenizer, "🦜 the cat sat", 128)  # 1 of 4: under the share


# ---- 4. explain -o FILE ---------------------------------------------------------------------


def test_explain_checks_the_output_path_before_loading_the_model(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "e.json"
    # the model does not exist either: the output is checked first, so that is what is said
    one_error(ligsite("explain", "the cat", "-o", str(missing), "--model", str(tmp_path / "nope")),
              f"cannot write --out {missing}: folder {missing.parent} does not exist")
    one_error(ligsite("explain", "the cat", "-o", str(tmp_path), "--model", str(tmp_path / "nope")), "is a folder")


def test_explain_on_a_full_disk_keeps_the_previous_file(tmp_path: Path, tiny_model_dir, monkeypatch) -> None:
    out = tmp_path / "e.json"
    out.write_bytes(b'{"previous": "good"}')
    monkeypatch.setattr(diskio, "write_bytes", full_disk_for("e.json"))
    result = ligsite("explain", "the cat", "-o", str(out), "--model", str(tiny_model_dir("bert")), "--steps", "2",
                     "--granularity", "layer", "--layers", "0")
    one_error(result, f"cannot write {out}: No space left on device; the previous file is unchanged")
    assert out.read_bytes() == b'{"previous": "good"}' and sorted(p.name for p in tmp_path.iterdir()) == ["e.json"]


# ---- 5. render on a full disk ---------------------------------------------------------------


def test_a_full_disk_during_build_leaves_the_previous_site_unchanged(project: Path, monkeypatch) -> None:
    assert ligsite("build", "one.txt", "-o", "site").exit_code == 0
    before = snapshot(project / "site")
    monkeypatch.setattr(diskio, "write_bytes", full_disk_for(".site.ligsite-"))  # the staging folder
    one_error(ligsite("build", "one.txt", "-o", "site"),
              "cannot write the site site: No space left on device; the previous site is unchanged")
    assert snapshot(project / "site") == before
    assert not [p for p in project.iterdir() if p.name.startswith(".site.ligsite-")]


# ---- 6. ids that would collide or escape ----------------------------------------------------


@pytest.mark.parametrize(("record", "message"), [
    ('{"text": "a", "id": "manifest"}', "id 'manifest' is reserved"),
    ('{"text": "a", "id": "MANIFEST"}', "id 'MANIFEST' is reserved"),
    ('{"text": "a", "id": "con"}', "id 'con' is reserved"),
    ('{"text": "a", "id": "../x"}', "id '../x' is not usable in a file name"),
    ('{"text": "a", "id": "a/b"}', "id 'a/b' is not usable in a file name"),
    ('{"text": "a", "id": "x"}\n{"text": "b", "id": "X"}', "same id 'X' (as 'x', ids are compared ignoring case)"),
])
def test_ids_that_would_overwrite_or_escape_site_files_are_refused(tmp_path: Path, record: str, message: str) -> None:
    (tmp_path / "s.jsonl").write_text(record + "\n")
    with pytest.raises(SamplesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_samples(tmp_path / "s.jsonl")


def test_render_site_refuses_a_manifest_id_and_keeps_the_manifest(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="id 'manifest' is reserved"):
        render_site([payload("manifest")], tmp_path / "site", SiteMeta())
    render_site([payload("one")], tmp_path / "site", SiteMeta())
    assert orjson.loads((tmp_path / "site/data/manifest.json").read_bytes())["samples"][0]["file"] == "data/one.json"


# ---- 7. links -------------------------------------------------------------------------------


@pytest.mark.parametrize("link", [
    " javascript:alert(1)", "java\tscript:alert(1)", "java\nscript:alert(1)", "\x01javascript:alert(1)",
    "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x", "//evil.example/f",
    "/etc/figures", "\\\\evil.example\\f", "https:evil", "",
])
def test_unsafe_links_are_refused_after_browser_normalisation(link: str) -> None:
    with pytest.raises(SiteError, match="must be relative to the site, e.g. .figures.index.html., or an http.https URL; "):
        safe_link(link, "link")


def test_safe_links_are_kept_as_the_browser_reads_them() -> None:
    assert safe_link(" figures/index.html\n", "link") == "figures/index.html"
    assert safe_link("https://example.org/f", "link") == "https://example.org/f"


def test_the_figures_link_is_relative_and_normalised_on_every_page(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="site.figures 'https://example.org/f' must be relative"):
        render_site([payload("one")], tmp_path / "site", SiteMeta(figures="https://example.org/f"))
    render_site([payload("one")], tmp_path / "site", SiteMeta(figures=" figures/index.html\t"))
    assert '<a href="../figures/index.html">Figures</a>' in (tmp_path / "site/s/one.html").read_text()


def test_a_config_with_an_unsafe_figures_link_is_refused_before_computing(project: Path) -> None:
    (project / "ligsite.toml").write_text((project / "ligsite.toml").read_text() + '[site]\nfigures = "java\\tscript:alert(1)"\n')
    result = ligsite("build", "one.txt", "-o", "site")
    one_error(result, "site.figures 'java\\tscript:alert(1)' must be relative to the site")
    assert "it is a javascript: link" in result.output
    assert not (project / "site").exists()


# ---- 8. corrupt weights ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def truncated_model(tiny_model_dir, tmp_path_factory) -> Path:
    folder = copy_model(tiny_model_dir("bert"), tmp_path_factory.mktemp("truncated") / "model")
    weights = folder / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    return folder


@pytest.mark.parametrize("command", [["explain", "the cat"], ["build", "one.txt", "-o", "site"], ["boundaries"]])
def test_truncated_safetensors_are_one_line(project: Path, truncated_model: Path, command: list[str]) -> None:
    args = [*command, str(truncated_model), "--load-weights"] if command == ["boundaries"] else [*command, "--model", str(truncated_model)]
    one_error(ligsite(*args), "are unreadable (a corrupt or truncated file?)")


# ---- 9. cache and config paths --------------------------------------------------------------


def test_a_cache_dir_that_is_not_a_path_string_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "ligsite.toml").write_text("cache_dir = 5\n")
    with pytest.raises(InputError, match="cache_dir must be a folder path string"):
        load_config(tmp_path / "ligsite.toml")


def test_a_file_as_cache_dir_is_one_error_before_the_model_loads(project: Path) -> None:
    (project / "cachefile").write_text("x")
    one_error(ligsite("build", "one.txt", "-o", "site", "--cache-dir", "cachefile"), "cache folder cachefile is a file")
    assert (project / "cachefile").read_text() == "x"


def test_a_folder_as_config_says_it_is_a_folder(project: Path) -> None:
    one_error(ligsite("build", "one.txt", "--config", str(project)), f"config file {project} is a folder")


# ---- 10. steps bound ------------------------------------------------------------------------


def test_steps_are_bounded_by_autos_ceiling_before_anything_loads(project: Path, tmp_path: Path) -> None:
    assert MAX_STEPS == AUTO_CAP
    one_error(ligsite("build", "one.txt", "--steps", "100000000"), f"steps 100000000 is more than {MAX_STEPS}")
    one_error(ligsite("explain", "the cat", "--steps", "100000000", "--model", str(tmp_path / "nope")),
              f"is more than {MAX_STEPS}")
    with pytest.raises(InputError, match="more than 1024"):
        BuildConfig(steps=MAX_STEPS + 1)
    BuildConfig(steps=MAX_STEPS)


# ---- 11. two renders at once ----------------------------------------------------------------


def test_two_concurrent_renders_into_one_folder_both_succeed(tmp_path: Path) -> None:
    one = payload("x")  # the same minimal payload, rebuilt in each process (no torch imported there)
    script = textwrap.dedent(f"""
        import sys
        from ligsite.site import SiteMeta, render_site
        ids = sys.argv[1].split(",")
        for _ in range(8):
            render_site([{{**{one!r}, "id": i}} for i in ids], {str(tmp_path / "site")!r}, SiteMeta())
    """)
    runs = [subprocess.Popen([sys.executable, "-c", script, ids], stderr=subprocess.PIPE, text=True)
            for ids in ("a,b,c", "c,d")]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    listed = set(orjson.loads((tmp_path / "site" / MARKER).read_bytes())["files"])
    present = {str(p.relative_to(tmp_path / "site")) for p in (tmp_path / "site").rglob("*")
               if p.is_file() and p.name not in (MARKER, ".ligsite-lock")}
    assert listed == present and {"data/manifest.json", "index.html"} <= listed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no staging folder left behind


# ---- 12. warnings, early checks and a cache that cannot be written --------------------------


def test_unknown_jsonl_keys_and_repeated_sentences_warn_naming_the_lines(tmp_path: Path) -> None:
    lines = ['{"text": "a cat", "lable": "x"}', '{"text": "a dog"}', '{"text": "a cat", "lable": "x"}']
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning) as caught:
        samples = read_samples(tmp_path / "s.jsonl")
    messages = [str(w.message) for w in caught]
    assert [s.line for s in samples] == [1, 2]
    assert any("lines 1, 3: unknown key 'lable' is ignored; valid keys: text, id, label, source" in m for m in messages)
    assert any("1 repeated sentence skipped, the first line of each is kept (line 3 repeats line 1)" in m for m in messages)


def test_a_repeated_sentence_builds_with_a_warning(project: Path) -> None:
    (project / "two.txt").write_text(f"{SENTENCE}\n{SENTENCE}\n")
    result = ligsite("build", "two.txt", "-o", "site")
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "line 2 repeats line 1" in result.output


def test_explain_rejects_empty_text_before_loading_the_model(tmp_path: Path) -> None:
    one_error(ligsite("explain", "   ", "--model", str(tmp_path / "nope")), "text is empty")
    with pytest.raises(InputError, match="text is empty"):
        explain("", model=str(tmp_path / "nope"))


def test_a_full_cache_keeps_the_samples_for_the_build_and_says_so_once(project: Path, monkeypatch) -> None:
    (project / "two.txt").write_text(f"{SENTENCE}\nDogs bark.\n")
    monkeypatch.setattr(diskio, "write_bytes", full_disk_for(".ligsite-cache"))
    result = ligsite("build", "two.txt", "-o", "site")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "could not be cached" in line]
    assert len(warned) == 1 and "2 of 2 computed samples" in warned[0] and "No space left on device" in warned[0]
    assert len(orjson.loads((project / "site/data/manifest.json").read_bytes())["samples"]) == 2
    assert not [p for p in (project / ".ligsite-cache").rglob("*") if p.is_file()]  # no half entries
    one_error(ligsite("compute", "two.txt"), "2 of 2 computed samples could not be cached")
