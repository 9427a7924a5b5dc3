"""`ligsite build / compute / render` end to end: cache hits, stable ids, and one-line errors.

Builds use a 2-layer tiny random BERT with 4 nodes (seconds); one test uses the embedded MiniLM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from ligsite.cli import app
from ligsite.config import BuildConfig
from ligsite.samples import text_id

SENTENCES = ["The cat sat on the mat.", "Dogs bark at night.", "A quiet river runs past the village."]
runner = CliRunner()


@pytest.fixture()
def project(tmp_path: Path, tiny_model_dir, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with samples.txt; runs happen inside it (cache and site land there)."""
    (tmp_path / "samples.txt").write_text("# three sentences\n" + "\n".join(SENTENCES) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIGSITE_TEST_MODEL", str(tiny_model_dir("bert")))
    return tmp_path


def ligsite(*args: str):
    """Run the real CLI in-process on the tiny model (4 nodes) unless --model is given."""
    extra = [] if "--model" in args else ["--model", os.environ["LIGSITE_TEST_MODEL"], "--steps", "4"]
    return runner.invoke(app, [*args, *extra])


def table_value(output: str, row: str) -> int:
    match = re.search(rf"{row}\s*│\s*(\d+)", output)
    assert match, output
    return int(match.group(1))


def test_build_writes_a_site_whose_pages_and_data_are_named_by_text_hash(project: Path) -> None:
    result = ligsite("build", "samples.txt", "-o", "site")
    assert result.exit_code == 0, result.output
    manifest = orjson.loads((project / "site/data/manifest.json").read_bytes())
    ids = [text_id(text) for text in SENTENCES]
    assert [s["id"] for s in manifest["samples"]] == ids
    assert all((project / f"site/s/{i}.html").is_file() and (project / f"site/data/{i}.json").is_file() for i in ids)
    assert manifest["routes"]["direct"] == list(BuildConfig().layer_baselines)
    assert len(manifest["routes"]["composed"]) == 8
    assert manifest["provenance"]["steps"] == 4
    assert (table_value(result.stdout, "computed"), table_value(result.stdout, "cache hits")) == (3, 0)
    assert "explaining" not in result.output  # no progress bar when output is not a terminal


def test_rebuild_computes_nothing_and_one_changed_line_recomputes_one_sample(project: Path) -> None:
    assert ligsite("build", "samples.txt").exit_code == 0
    again = ligsite("build", "samples.txt")
    assert (table_value(again.stdout, "computed"), table_value(again.stdout, "cache hits")) == (0, 3)
    lines = (project / "samples.txt").read_text().splitlines()
    lines[2] = "Dogs bark at noon."
    (project / "samples.txt").write_text("\n".join(lines) + "\n")
    edited = ligsite("build", "samples.txt")
    assert edited.exit_code == 0, edited.output
    assert (table_value(edited.stdout, "computed"), table_value(edited.stdout, "cache hits")) == (1, 2)
    assert (project / f"site/s/{text_id('Dogs bark at noon.')}.html").is_file()
    assert not (project / f"site/s/{text_id('Dogs bark at night.')}.html").exists()


def test_jsonl_ids_labels_and_sources_reach_the_site(project: Path) -> None:
    rows = [{"text": SENTENCES[0], "id": "cat", "label": "animal", "source": "CC0"}, {"text": SENTENCES[1]}]
    (project / "s.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    result = ligsite("build", "s.jsonl", "-o", "site", "--layers", "1")
    assert result.exit_code == 0, result.output
    payload = orjson.loads((project / "site/data/cat.json").read_bytes())
    assert (payload["id"], payload["label"], payload["source"]) == ("cat", "animal", "CC0")
    assert payload["layers"] == [1] and payload["maps"]["direct:zero"]["shape"][0] == 1
    assert (project / f"site/s/{text_id(SENTENCES[1])}.html").is_file()


def test_compute_then_render_from_the_cache_equals_build(project: Path) -> None:
    assert ligsite("compute", "samples.txt").exit_code == 0
    assert not (project / "site").exists()
    result = ligsite("render", "samples.txt", "-o", "site", "--single-file")
    assert result.exit_code == 0, result.output
    html = (project / "site/index.html").read_text()
    assert text_id(SENTENCES[0]) in html and not (project / "site/data").exists()


def test_render_without_a_cache_says_to_run_compute(project: Path) -> None:
    result = ligsite("render", "samples.txt", "-o", "site")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "not in the cache" in result.stderr
    assert "run `ligsite compute`" in result.stderr and text_id(SENTENCES[0]) in result.stderr


def test_render_from_explanation_files_made_elsewhere(project: Path) -> None:
    from ligsite.api import explain

    folder = project / "made-elsewhere"
    folder.mkdir()
    for number, text in enumerate(SENTENCES):
        with pytest.warns(UserWarning):  # 4 nodes on a random model: completeness warnings
            explain(text, model=os.environ["LIGSITE_TEST_MODEL"], steps=4, device="cpu").save(folder / f"{number}.json")
    result = ligsite("render", "samples.txt", "-o", "site", "--explanations", str(folder))
    assert result.exit_code == 0, result.output
    payload = orjson.loads((project / f"site/data/{text_id(SENTENCES[2])}.json").read_bytes())
    assert payload["text"] == SENTENCES[2] and "composed:itb_map_ratio+att_itb_a0" in payload["maps"]


def test_a_sample_too_long_for_the_model_fails_alone_and_the_others_stay_cached(project: Path) -> None:
    too_long = " ".join(["word"] * 300)  # the tiny model has 128 positions
    (project / "samples.txt").write_text(f"{SENTENCES[0]}\n{too_long}\n{SENTENCES[1]}\n")
    result = ligsite("build", "samples.txt", "-o", "site")
    assert result.exit_code == 1
    assert f"sample {text_id(too_long)} (line 2): text has 302 tokens" in result.stderr
    assert "1 of 3 samples failed" in result.stderr and not (project / "site").exists()
    (project / "samples.txt").write_text(f"{SENTENCES[0]}\n{SENTENCES[1]}\n")
    again = ligsite("build", "samples.txt", "-o", "site")
    assert again.exit_code == 0 and table_value(again.stdout, "cache hits") == 2


def test_a_block_only_model_gets_the_direct_route_only(project: Path, tiny_model_dir) -> None:
    result = ligsite("build", "samples.txt", "-o", "site", "--model", str(tiny_model_dir("mamba")), "--steps", "4")
    assert result.exit_code == 0, result.output
    manifest = orjson.loads((project / "site/data/manifest.json").read_bytes())
    assert manifest["routes"] == {"direct": ["zero", "self_input_token", "itb_zero_ratio"], "composed": []}
    payload = orjson.loads((project / f"site/data/{text_id(SENTENCES[0])}.json").read_bytes())
    assert sorted(payload["maps"]) == ["direct:itb_zero_ratio", "direct:self_input_token", "direct:zero"]
    assert payload["l2"] == {} and sorted(payload["completeness"]) == ["layer:itb_zero_ratio", "layer:self_input_token", "layer:zero"]
    assert payload["n_heads"] == 0 and not (project / "site/data/heads").exists()  # Mamba: no head axis anywhere
    assert all("heads" not in entry for entry in manifest["samples"])


BAD_FILES = {
    "missing": (None, "does not exist"),
    "empty": (b"", "has no samples"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
    "invalid-utf8": (b"caf\xe9 au lait\n", "not valid UTF-8: line 1, byte offset 3"),
    "long-line": (b"x" * 100_000 + b"\n", "line 1 has 100,000 characters"),
    "malformed-jsonl": (b'{"text": "ok"}\n{"text": \n', "line 2 is not valid JSON"),
    "duplicate-ids": (b'{"text": "a", "id": "x"}\n{"text": "b", "id": "x"}\n', "lines 1 and 2 have the same id 'x'"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_samples_files_give_one_clear_line_and_exit_1(project: Path, case: str) -> None:
    content, message = BAD_FILES[case]
    path = project / (f"{case}.jsonl" if "jsonl" in case or "ids" in case else f"{case}.txt")
    if content is not None:
        path.write_bytes(content)
    result = ligsite("build", str(path), "-o", "site")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.output and not (project / "site").exists()


def test_bad_option_values_name_the_valid_choices(project: Path) -> None:
    result = ligsite("compute", "samples.txt", "--quadrature", "simpson")
    assert result.exit_code == 1 and "unknown quadrature 'simpson'; valid: gauss-legendre" in result.stderr
    result = runner.invoke(app, ["compute", "samples.txt", "--steps", "many"])
    assert result.exit_code == 1 and "--steps must be a positive integer or 'auto'" in result.stderr
    for option, value in (("--batch-size", "lots"), ("--workers", "2.5")):
        result = runner.invoke(app, ["compute", "samples.txt", option, value])
        assert result.exit_code == 1 and f"{option} must be a positive integer or 'auto', got '{value}'" in result.stderr
    result = runner.invoke(app, ["compute", "samples.txt", "--batch-size", "0"])
    assert result.exit_code == 1 and "batch_size must be a positive integer or 'auto', got 0" in result.stderr


def test_layers_outside_the_model_are_one_line_before_any_sample_runs(project: Path) -> None:
    result = ligsite("compute", "samples.txt", "--layers", "0,7")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "layers [0, 7]:" in result.stderr and "has blocks 0..1" in result.stderr
    assert not list((project / ".ligsite-cache").rglob("*.json"))


def test_a_corrupt_cache_entry_is_one_warning_line_and_is_recomputed(project: Path) -> None:
    assert ligsite("compute", "samples.txt").exit_code == 0
    entries = sorted((project / ".ligsite-cache").rglob("*.json"))
    entries[0].write_text("{not json")
    result = ligsite("build", "samples.txt", "-o", "site")
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.stderr.splitlines() if line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith(f"warning: cache entry {entries[0].relative_to(project)}")
    assert "recomputing it" in warning_lines[0] and "UserWarning" not in result.stderr
    assert (table_value(result.stdout, "computed"), table_value(result.stdout, "cache hits")) == (1, 2)
    assert orjson.loads(entries[0].read_bytes())["text"] in SENTENCES


def test_every_site_option_maps_to_the_config_field_of_the_same_name() -> None:
    fields = set(BuildConfig.__dataclass_fields__)
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    engine = {"model", "steps", "quadrature", "layers", "device", "dtype", "weights_dtype", "cache_dir"}
    runs = {"workers", "executor", "address", "batch_size"}  # where compute runs: config fields, never in the key
    expected = {"build": engine | runs | {"analysis"}, "compute": engine | runs, "render": engine}
    for name, wanted in expected.items():
        options = {p.name for p in commands[name].params} - {"samples", "config", "out", "single_file", "force", "explanations", "shard"}
        assert options == wanted, name
        assert options <= fields


def test_defaults_named_in_the_site_options_help_are_the_config_defaults() -> None:
    defaults = BuildConfig()
    build = typer.main.get_command(app).commands["build"]  # type: ignore[attr-defined]
    stated = {p.name: re.search(r"\(default: ([^)]+)\)", p.help or "") for p in build.params}
    for name in ("steps", "quadrature", "device", "dtype", "cache_dir"):
        assert stated[name], f"--{name} help names no default"
        assert stated[name].group(1) == str(getattr(defaults, name)), name
    assert stated["model"].group(1) == "embedded all-MiniLM-L6-v2" and defaults.model.endswith("all-MiniLM-L6-v2")


def test_ctrl_c_keeps_every_finished_sample(project: Path) -> None:
    words = ["cats", "dogs", "rain", "tea", "maps", "bees", "snow", "ink", "owls", "jazz", "figs", "moss"]
    sentences = [f"Sentence number {n} is about {w}, and it goes on for a while so it has tokens." for n, w in enumerate(words)]
    (project / "many.txt").write_text("\n".join(sentences) + "\n")
    command = [sys.executable, "-m", "ligsite", "compute", "many.txt", "--model", os.environ["LIGSITE_TEST_MODEL"], "--steps", "4"]
    # a child of a background job inherits an ignored SIGINT; restore the default so Python raises KeyboardInterrupt
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list((project / ".ligsite-cache").rglob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    finished = len(list((project / ".ligsite-cache").rglob("*.json")))
    assert process.returncode == 130, stderr
    assert "interrupted: finished samples stay cached" in stderr and "Traceback" not in stderr
    assert 1 <= finished < len(sentences) and not list((project / ".ligsite-cache").rglob("*.tmp"))
    (project / "done.txt").write_text("\n".join(sentences[:finished]) + "\n")  # samples run in file order
    again = ligsite("compute", "done.txt")
    assert again.exit_code == 0, again.output
    assert (table_value(again.stdout, "computed"), table_value(again.stdout, "cache hits")) == (0, finished)


@pytest.mark.slow
def test_build_with_the_embedded_minilm(tmp_path: Path, minilm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.txt").write_text("The photographer's unbelievably sharp pictures won.\n")
    result = runner.invoke(app, ["build", "one.txt", "-o", "site", "--steps", "4"])  # default model
    assert result.exit_code == 0, result.output
    payload = orjson.loads(next((tmp_path / "site/data").glob("[!m]*.json")).read_bytes())
    assert payload["provenance"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert payload["layers"] == list(range(6)) and payload["n_heads"] == 12
    assert len(payload["maps"]) == 11 and "unbelievably" in payload["words"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "ligsite", *args, "--model", os.environ["LIGSITE_TEST_MODEL"], "--steps", "4"]


def test_two_builds_on_one_cache_into_one_site_at_once_both_succeed_and_every_entry_is_valid(project: Path) -> None:
    from ligsite.cache_admin import scan

    builds = [subprocess.Popen(_cli("build", "samples.txt", "-o", "site"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [build.communicate(timeout=300) for build in builds]
    assert [build.returncode for build in builds] == [0, 0], outputs
    result = scan(project / ".ligsite-cache")
    assert len(result.entries) == 3 and result.count("ok") == 3 and not result.temporary, result.line()
    manifest = orjson.loads((project / "site/data/manifest.json").read_bytes())
    assert sorted(s["id"] for s in manifest["samples"]) == sorted(text_id(t) for t in SENTENCES)
    again = ligsite("build", "samples.txt", "-o", "site")
    assert (table_value(again.stdout, "computed"), table_value(again.stdout, "cache hits")) == (0, 3)


def test_a_build_killed_mid_way_keeps_its_finished_samples_and_the_rerun_completes_the_site(project: Path) -> None:
    sentences = [f"Sentence {n} talks about {w} for a while, long enough to take time." for n, w in
                 enumerate(["cats", "dogs", "rain", "tea", "maps", "bees"])]
    (project / "many.txt").write_text("\n".join(sentences) + "\n")
    process = subprocess.Popen(_cli("build", "many.txt", "-o", "site"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list((project / ".ligsite-cache").glob("??/*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()  # SIGKILL: no handler runs
    process.wait(timeout=60)
    finished = len(list((project / ".ligsite-cache").glob("??/*.json")))
    assert 1 <= finished < len(sentences) and not (project / "site").exists()
    again = ligsite("build", "many.txt", "-o", "site")
    assert again.exit_code == 0, again.output
    assert (table_value(again.stdout, "computed"), table_value(again.stdout, "cache hits")) == (len(sentences) - finished, finished)
    assert len(orjson.loads((project / "site/data/manifest.json").read_bytes())["samples"]) == len(sentences)


TORCH_FREE = """
import sys
from ligsite.cli import app
try:
    app({args!r})
except SystemExit as end:
    status = end.code
print("loaded:", sorted(m for m in ("torch", "transformers") if m in sys.modules))
sys.exit(status)
"""


@pytest.mark.parametrize("command", ["build", "render"])
def test_a_fully_cached_build_or_render_imports_neither_torch_nor_transformers(project: Path, command: str) -> None:
    """pytest itself has torch loaded, so the cached run happens in a fresh interpreter."""
    assert ligsite("build", "samples.txt", "-o", "site").exit_code == 0  # fills the cache (and its memo)
    args = [command, "samples.txt", "-o", "site", "--model", os.environ["LIGSITE_TEST_MODEL"], "--steps", "4"]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", TORCH_FREE.format(args=args)], capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded: []" in result.stdout, result.stdout
    assert "wrote site/index.html" in result.stdout and seconds < 60


def test_weights_dtype_on_the_command_line_is_checked_and_keys_the_cache(project: Path) -> None:
    """--weights-dtype reaches the config like ligsite.toml's key: a bad value is a one-line error
    before any work, and another dtype is another cache entry."""
    bad = ligsite("compute", "samples.txt", "--layers", "0", "--weights-dtype", "int8")
    assert bad.exit_code == 1 and "weights_dtype" in bad.stderr and "Traceback" not in bad.output
    assert not (project / ".ligsite-cache").exists()
    for dtype in ("float32", "float64"):
        result = ligsite("compute", "samples.txt", "--layers", "0", "--weights-dtype", dtype)
        assert result.exit_code == 0, result.output
    entries = [orjson.loads(p.read_bytes()) for p in (project / ".ligsite-cache").rglob("*.json")]
    stored = sorted(e["settings"]["weights_dtype"] for e in entries if "settings" in e)
    assert stored == ["float32"] * len(SENTENCES) + ["float64"] * len(SENTENCES)
