"""``ligsite explain`` / ``ligsite boundaries``: the CLI mirrors the API one to one."""

from __future__ import annotations

import inspect

import orjson
import pytest
import typer.main
from typer.testing import CliRunner

from ligsite.api import explain
from ligsite.cli import app

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::ligsite.api.CompletenessWarning")


def _options(name: str) -> dict[str, str]:
    """Parameter name of the command -> its first option flag."""
    command = typer.main.get_command(app).commands[name]
    return {p.name: p.opts[0] for p in command.params}


def test_every_explain_option_maps_to_one_explain_parameter():
    options = _options("explain")
    mapped = {"baselines" if name.startswith("baseline_") else name for name in options} - {"out"}
    assert mapped == set(inspect.signature(explain).parameters)
    assert {options[f"baseline_{g}"] for g in ("att", "mlp", "layer")} == {
        "--baseline-att", "--baseline-mlp", "--baseline-layer"}
    assert options["out"] == "--out" and options["steps"] == "--steps"


def test_explain_prints_the_explanation_json_to_stdout(tiny_model_dir):
    result = runner.invoke(app, ["explain", "the cat sat", "--model", str(tiny_model_dir("bert")),
                                 "--steps", "4", "--granularity", "layer,att", "--baseline-layer",
                                 "zero", "--baseline-att", "itb_zero_ratio", "--layers", "1",
                                 "--targets", "1,2", "--dtype", "float64"])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    assert doc["schema"] == 1 and doc["layers"] == [1] and doc["targets"] == [1, 2]
    assert set(doc["runs"]) == {"layer:zero", "att:zero", "att:self_input_token"}
    assert doc["baselines"] == {"att": ["itb_zero_ratio"], "layer": ["zero"]}
    assert doc["settings"] == {"steps": 4, "quadrature": "gauss-legendre", "dtype": "float64",
                               "weights_dtype": "float64", "tolerance": 0.02}


def test_explain_writes_a_file_with_out(tiny_model_dir, tmp_path):
    out = tmp_path / "e.json"
    result = runner.invoke(app, ["explain", "the cat sat", "-o", str(out), "--model",
                                 str(tiny_model_dir("gpt2")), "--steps", "auto", "--granularity", "mlp"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout and orjson.loads(out.read_bytes())["settings"]["steps"] == "auto"


@pytest.mark.parametrize(("args", "message"), [
    (["--baseline-mlp", "self_input_token"], "'self_input_token' is not valid for mlp"),
    (["--layers", "0,x"], "--layers expects comma-separated integers"),
    (["--steps", "many"], "--steps expects a positive integer or 'auto'"),
    (["--targets", "1,99"], "target 99 is out of range"),
    (["--granularity", "att", "--model", "no-such-org/no-such-model"], "'no-such-org/no-such-model' is not available offline"),
])
def test_explain_errors_are_one_red_line(tiny_model_dir, args, message):
    result = runner.invoke(app, ["explain", "the cat sat", "--model", str(tiny_model_dir("bert")), *args])
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_boundaries_prints_family_and_granularities(tiny_model_dir):
    result = runner.invoke(app, ["boundaries", str(tiny_model_dir("mamba"))])
    assert result.exit_code == 0, result.output
    info = orjson.loads(result.stdout)
    assert info["family"] == "mamba" and info["granularities"] == ["layer"] and info["n_heads"] == 0


def test_boundaries_with_load_weights_adds_the_identity(tiny_model_dir):
    result = runner.invoke(app, ["boundaries", str(tiny_model_dir("gpt2")), "--load-weights"])
    assert result.exit_code == 0, result.output
    info = orjson.loads(result.stdout)
    assert info["family"] == "gpt2" and info["causal"] is True and info["n_layers"] == 2
    assert "@sha256:" in info["identity"] and info["granularities"] == ["att", "mlp", "layer"]


def test_completeness_misses_are_yellow_lines_and_a_flag_in_the_json(tiny_model_dir):
    result = runner.invoke(app, ["explain", "a small dog barked at the red car", "--model",
                                 str(tiny_model_dir("bert")), "--steps", "2", "--granularity", "layer",
                                 "--baseline-layer", "zero"])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    assert doc["completeness_warning"] is True and doc["warnings"]
    lines = result.stderr.strip().splitlines()
    assert lines == [f"warning: {line}" for line in doc["warnings"]]
    assert "completeness ratios off by more than 0.02" in lines[0]
