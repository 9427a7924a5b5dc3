"""BuildConfig: defaults, ligsite.toml loading, CLI overrides, and errors naming valid keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from ligsite.config import ATT_BASELINES, MLP_BASELINES, BuildConfig, load_config
from ligsite.errors import InputError


def test_defaults_offer_every_route_and_baseline_of_the_viewer() -> None:
    config = BuildConfig()
    assert config.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert (config.steps, config.quadrature, config.cache_dir) == ("auto", "gauss-legendre", Path(".ligsite-cache"))
    assert config.layer_baselines == ("zero", "self_input_token", "itb_zero_ratio")
    assert len(config.composed) == len(ATT_BASELINES) * len(MLP_BASELINES) == 8
    assert config.baselines == {
        "att": ["zero", "self_input_token", "itb_zero_ratio", "itb_map_ratio"],
        "mlp": ["zero", "att_itb_a0"],
        "layer": ["zero", "self_input_token", "itb_zero_ratio"],
    }


def test_toml_sets_values_and_options_override_them(tmp_path: Path) -> None:
    path = tmp_path / "ligsite.toml"
    path.write_text(
        'model = "some/model"\nsteps = 16\nlayers = [0, 2]\n'
        '[baselines]\nlayer = ["zero"]\ncomposed = [["zero", "zero"], "self_input_token+att_itb_a0"]\n'
        '[site]\ntitle = "My LIG maps"\ndescription = "Two sentences."\n'
    )
    config = load_config(path, {"steps": 4, "model": None})
    assert (config.model, config.steps, config.layers) == ("some/model", 4, (0, 2))
    assert config.layer_baselines == ("zero",)
    assert config.composed == (("zero", "zero"), ("self_input_token", "att_itb_a0"))
    assert config.baselines == {"att": ["zero", "self_input_token"], "mlp": ["zero", "att_itb_a0"], "layer": ["zero"]}
    assert (config.title, config.description) == ("My LIG maps", "Two sentences.")


def test_toml_in_the_current_directory_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ligsite.toml").write_text('quadrature = "trapezoid-captum"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config().quadrature == "trapezoid-captum"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('modle = "x"\n', "unknown key 'modle'; valid: model, steps, quadrature, layers, device, dtype, weights_dtype, cache_dir, workers, executor, address, batch_size, baselines.layer"),
        ("[engine]\nsteps = 3\n", "unknown table [engine]; valid:"),
        ('[baselines]\nlayer = ["output_token"]\n', "unknown baselines.layer entry 'output_token'; valid: zero, self_input_token, itb_zero_ratio"),
        ('[baselines]\ncomposed = [["zero", "self_input_token"]]\n', "unknown composed mlp baseline 'self_input_token'; valid: zero, att_itb_a0"),
        ('quadrature = "simpson"\n', "unknown quadrature 'simpson'; valid: gauss-legendre"),
        ("steps = 0\n", "steps must be a positive integer or 'auto', got 0"),
        ('layers = "a,b"\n', "layers must be comma-separated block indices"),
        ("steps = [\n", "is not valid TOML"),
        ('workers = "many"\n', "workers must be a positive integer or 'auto', got 'many'"),
        ("workers = 0\n", "workers must be a positive integer or 'auto', got 0"),
        ('executor = "slurm"\n', "unknown executor 'slurm'; valid: local, ray"),
    ],
)
def test_bad_toml_names_the_key_and_the_valid_choices(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "ligsite.toml"
    path.write_text(toml)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert message in str(info.value)


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        BuildConfig().steps = 3  # type: ignore[misc]


def test_the_documented_example_spells_out_exactly_the_defaults(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[1] / "docs" / "config.md").read_text(encoding="utf-8")
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "ligsite.toml"
    path.write_text(example, encoding="utf-8")
    assert load_config(path) == BuildConfig()


def test_weights_dtypes_are_the_loaders_and_part_of_the_cache_key():
    from ligsite.cache import key_fields
    from ligsite.config import WEIGHTS_DTYPES, BuildConfig
    from ligsite.models.loading import WEIGHTS_DTYPES as LOADER_WEIGHTS_DTYPES

    assert WEIGHTS_DTYPES == LOADER_WEIGHTS_DTYPES
    assert key_fields("m", BuildConfig())["weights_dtype"] == "auto"
    assert key_fields("m", BuildConfig(weights_dtype="bfloat16")) != key_fields("m", BuildConfig())
    with pytest.raises(InputError, match="weights_dtype"):
        BuildConfig(weights_dtype="int8")


def test_site_citation_and_defaults_come_from_the_toml_as_viewer_state(tmp_path: Path) -> None:
    path = tmp_path / "ligsite.toml"
    path.write_text('[site]\ncitation = "Doe et al. (2026), LIG."\n'
                    '[site.defaults]\nroute = "composed"\natt_baseline = "self_input_token"\n'
                    'mlp_baseline = "att_itb_a0"\nnorm = "share-noself"\nhide_self = false\nlayer = "all"\n',
                    encoding="utf-8")
    config = load_config(path)
    assert config.citation == "Doe et al. (2026), LIG."
    assert config.viewer_defaults == {"route": "composed", "attBaseline": "self_input_token", "mlpBaseline": "att_itb_a0",
                                      "norm": "share-noself", "hideSelf": 0, "layer": "all"}
    assert BuildConfig().viewer_defaults == {} and BuildConfig().citation == ""


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[site.defaults]\nself = "hide"\n', "unknown key 'site.defaults.self'; valid: route, layer, layer_baseline, "
         "att_baseline, mlp_baseline, norm, hide_self, rank_self, axis, word_agg, scale, theme"),
        ('[site.defaults]\nnorm = "percent"\n', "site.defaults.norm 'percent' is not valid; valid: raw, share, share-noself"),
        ("[site.defaults]\nhide_self = 1\n", "site.defaults.hide_self 1 is not valid; valid: true, false"),
        ('[site.defaults]\naxis = true\n', "site.defaults.axis True is not valid; valid: token, word"),
        ("[site.defaults]\nlayer = -1\n", 'site.defaults.layer must be "all" or a block index >= 0, got -1'),
        ("layers = [0, 2]\n[site.defaults]\nlayer = 1\n", 'site.defaults.layer 1 is not a computed layer; valid: "all", 0, 2'),
        ('[baselines]\nlayer = ["zero"]\n[site.defaults]\nlayer_baseline = "itb_zero_ratio"\n',
         "unknown site.defaults.layer_baseline 'itb_zero_ratio'; valid: zero"),
        ('[baselines]\ncomposed = [["zero", "zero"]]\n[site.defaults]\natt_baseline = "zero"\nmlp_baseline = "att_itb_a0"\n',
         "unknown site.defaults.mlp_baseline (with att baseline zero) 'att_itb_a0'; valid: zero"),
        ('[site]\ndefaults = "share"\n', "site.defaults must be a table"),
        ("[site]\ncitation = 2026\n", "citation must be a string, got 2026"),
    ],
)
def test_bad_site_defaults_name_the_key_and_the_valid_values(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "ligsite.toml"
    path.write_text(toml)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert message in str(info.value)


def test_site_default_choices_are_the_viewers_state_enums() -> None:
    """config.SITE_DEFAULT_KEYS restates web/state.js's enums (the site imports no JS): keep them one."""
    import json
    import re

    from ligsite.config import SITE_DEFAULT_KEYS

    state_js = (Path(__file__).parents[1] / "web" / "state.js").read_text(encoding="utf-8")
    block = re.search(r"STATE_ENUMS = \{(.*?)\};", state_js, re.S).group(1)
    enums = {key: json.loads(values.replace("'", '"')) for key, values in re.findall(r"(\w+): (\[[^\]]*\])", block)}
    keys = re.search(r"STATE_KEYS = \[(.*?)\];", state_js, re.S).group(1)
    for name, (state_key, choices) in SITE_DEFAULT_KEYS.items():
        assert f'"{state_key}"' in keys, name
        if state_key in enums:
            assert list(choices) == enums[state_key], name
