"""``ligsite.explain`` end to end: requests, derived baselines, errors, JSON round trip."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ligsite.api as api
from ligsite import Explanation, explain
from ligsite.errors import InputError, ModelError
from ligsite.lig.ratios import composed, itb_map_ratio, itb_zero_ratio
from ligsite.models.loading import load

TEXT = "a small dog barked at the red car"
pytestmark = pytest.mark.filterwarnings("ignore::ligsite.api.CompletenessWarning")
RAW_ALL = {"att:zero", "att:self_input_token", "mlp:zero", "mlp:att_itb_a0", "layer:zero",
           "layer:self_input_token"}


@pytest.fixture(scope="module")
def bert(tiny_model_dir):
    return load(str(tiny_model_dir("bert")), "cpu", "float64")


@pytest.fixture(scope="module")
def full(bert):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", api.CompletenessWarning)
        return explain(TEXT, model=bert, steps=8, dtype="float64")


def test_default_request_computes_every_raw_run_once(bert, monkeypatch):
    calls = []
    from ligsite import runs

    real = runs.run_route  # the raw routes run in ligsite.runs (api.explain -> runs.compute)
    monkeypatch.setattr(runs, "run_route", lambda g, block, z, t, b, *a: calls.append((block.index, g, b)) or real(g, block, z, t, b, *a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", api.CompletenessWarning)
        exp = explain(TEXT, model=bert, steps=4, dtype="float64")
    assert set(exp.runs) == RAW_ALL
    assert len(calls) == len(set(calls)) == len(RAW_ALL) * bert.n_layers
    assert exp.baselines["att"] == ["zero", "self_input_token", "itb_zero_ratio", "itb_map_ratio"]


def test_ratio_variant_alone_runs_only_what_it_needs(bert):
    exp = explain(TEXT, model=bert, steps=4, granularity=["att"], baselines={"att": ["itb_map_ratio"]})
    assert set(exp.runs) == {"att:self_input_token"}
    assert exp.att(0, "itb_map_ratio").shape == (bert.n_heads, len(exp.tokens), len(exp.tokens))


def test_ratio_variants_match_their_closed_forms_and_keep_column_sums(full, bert):
    cache = bert.forward(bert.tokenize(TEXT).input_ids)
    for layer in full.layers:
        itb, zero = full.z2z(layer, "self_input_token"), full.z2z(layer, "zero")
        np.testing.assert_allclose(full.z2z(layer, "itb_zero_ratio"), itb_zero_ratio(itb, zero))
        np.testing.assert_allclose(full.z2z(layer, "itb_zero_ratio").sum(0), itb.sum(0))
        probs = torch.diagonal(cache.attention[layer], dim1=-2, dim2=-1).numpy()  # [H, T]
        att_itb = full.att(layer, "self_input_token")
        np.testing.assert_allclose(full.att(layer, "itb_map_ratio"), itb_map_ratio(att_itb, probs))
        np.testing.assert_allclose(full.att(layer, "itb_map_ratio").sum(1), att_itb.sum(1))


def test_composed_equals_the_einsum_of_att_and_mlp(full):
    c = full.composed(1, "self_input_token", "att_itb_a0")
    expected = np.einsum("hij,jh->ij", full.att(1, "self_input_token"), full.mlp(1, "att_itb_a0"))
    np.testing.assert_allclose(c, expected)
    np.testing.assert_allclose(c, composed(full.att(1, "self_input_token"), full.mlp(1, "att_itb_a0")))
    assert "composed" in full.granularities


def test_l2_diagnostic_per_target_and_pooled(full):
    out = full.l2(0, "zero", "zero", "zero")
    t = len(full.tokens)
    assert {k: v.shape for k, v in out.items()} == {"abs": (t,), "rel": (t,), "pearson": (t,)}
    diff = full.z2z(0, "zero") - full.composed(0, "zero", "zero")
    np.testing.assert_allclose(out["abs"], np.linalg.norm(diff, axis=0))
    summary = full.l2_summary("zero", "zero", "zero")
    assert summary["abs"][0] == pytest.approx(out["abs"].mean())
    assert summary["pooled"]["abs"] == pytest.approx(np.mean(summary["abs"]))


def test_subset_of_layers_and_targets_gives_full_size_matrices_with_nan_columns(bert):
    exp = explain(TEXT, model=bert, steps=4, layers=[1], targets=[2, 3], granularity=("att", "mlp", "layer"),
                  baselines={"att": ["zero"], "mlp": ["zero"], "layer": ["zero"]})
    t = len(exp.tokens)
    m = exp.z2z(1, "zero")
    assert m.shape == (t, t)
    assert np.isnan(np.delete(m, [2, 3], axis=1)).all() and np.isfinite(m[:, [2, 3]]).all()
    assert exp.att(1, "zero").shape == (bert.n_heads, t, t) and exp.mlp(1, "zero").shape == (t, bert.n_heads)
    assert np.isnan(exp.completeness("layer", 1, "zero")[0])
    with pytest.raises(InputError, match=r"layer 0 was not computed; computed layers: \[1\]"):
        exp.z2z(0, "zero")
    with pytest.raises(InputError, match="layer with baseline 'self_input_token' was not computed"):
        exp.z2z(1, "self_input_token")


def test_targets_given_as_a_generator_apply_to_every_text(bert):
    texts = [TEXT, "a dog barks", "rain on the sea"]
    many = api.explain_many(texts, model=bert, steps=2, layers=[0], targets=(j for j in (2, 1)),
                            granularity="layer", baselines={"layer": ["zero"]}, batch_size=1)
    assert [e.targets for e in many] == [[1, 2]] * 3
    for exp in many:
        assert np.isfinite(exp.z2z(0, "zero")[:, [1, 2]]).all()


def test_auto_steps_meets_the_tolerance_where_fixed_steps_miss(bert):
    with pytest.warns(api.CompletenessWarning, match="completeness ratios off by more than 0.02"):
        few = explain(TEXT, model=bert, steps=4, granularity=["layer"], baselines={"layer": ["zero"]})
    assert few.to_dict()["completeness_warning"] is True
    with warnings.catch_warnings():
        warnings.simplefilter("error", api.CompletenessWarning)
        auto = explain(TEXT, model=bert, steps="auto", granularity=["layer"], baselines={"layer": ["zero"]},
                       dtype="float64", tolerance=1e-12)  # tight: the tiny model is smooth
    ratios = np.stack([auto.completeness("layer", l, "zero") for l in auto.layers])
    assert np.all(np.abs(ratios - 1) <= 1e-12)
    used = auto.runs["layer:zero"].steps
    assert used.min() == 32 and used.max() > 32  # only the targets that missed were redone
    assert not auto.warnings and auto.steps == "auto"


def test_auto_steps_stop_at_the_cap_and_report_the_targets_that_still_miss(bert):
    # Below float64's rounding floor (~3e-14 here, measured): no node count can meet it, whereas
    # float32 ratios often round to exactly 1.0 and would meet any tolerance by accident.
    with pytest.warns(api.CompletenessWarning, match="layer 0 layer:zero: .* off by more than 1e-16"):
        exp = explain(TEXT, model=bert, steps="auto", granularity="layer", baselines={"layer": ["zero"]},
                      layers=[0], dtype="float64", tolerance=1e-16)
    assert exp.runs["layer:zero"].steps.max() == 1024 and exp.to_dict()["completeness_warning"]


def test_trapezoid_captum_ratios_sit_near_n_minus_1_over_n_without_warning(bert):
    with warnings.catch_warnings():
        warnings.simplefilter("error", api.CompletenessWarning)
        exp = explain(TEXT, model=bert, steps=32, granularity="mlp", quadrature="trapezoid-captum",
                      baselines={"mlp": ["att_itb_a0"]})
    assert np.nanmedian(exp.completeness("mlp", 0, "att_itb_a0")) == pytest.approx(31 / 32, abs=0.02)  # α=0 term is 0
    assert not exp.warnings


def test_trapezoid_captum_warns_against_n_minus_1_over_n_where_it_misses(bert):
    # zero paths miss (n-1)/n by 12-15% at n = 32 (issue 10): that is a warning, not silence
    with pytest.warns(api.CompletenessWarning, match=r"layer:zero: \d+ completeness ratios off"):
        exp = explain(TEXT, model=bert, steps=32, granularity="layer", quadrature="trapezoid-captum",
                      baselines={"layer": ["zero"]}, layers=[0])
    ratio = exp.completeness("layer", 0, "zero")
    assert np.nanmax(np.abs(ratio - 31 / 32)) > 0.02 and exp.to_dict()["completeness_warning"]


def test_save_load_round_trip_keeps_everything(full, tmp_path):
    path = tmp_path / "exp.json"
    full.save(path)
    back = Explanation.load(path)
    assert back.tokens == full.tokens and back.word_ids == full.word_ids and back.layers == full.layers
    assert back.baselines == full.baselines and back.warnings == full.warnings
    assert back.model_identity == full.model_identity and back.steps == full.steps
    for key, run in full.runs.items():
        for name in ("scores", "value", "completeness", "steps"):
            np.testing.assert_array_equal(getattr(back.runs[key], name), getattr(run, name))
    np.testing.assert_array_equal(back.att(1, "itb_map_ratio"), full.att(1, "itb_map_ratio"))


def test_saved_json_writes_nan_as_null(bert, tmp_path):
    exp = explain(TEXT, model=bert, steps=4, granularity="layer", targets=[1], baselines={"layer": ["zero"]})
    exp.save(tmp_path / "e.json")
    text = (tmp_path / "e.json").read_text()
    assert "NaN" not in text and "null" in text and '"schema":1' in text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"text": ""}, "text is empty"),
    ({"text": "word " * 300}, "accepts at most"),
    ({"baselines": {"att": ["output_token"]}}, "baseline 'output_token' is not valid for att; valid: zero"),
    ({"baselines": {"mlp": ["self_input_token"]}}, "'self_input_token' is not valid for mlp; valid: zero, att_itb_a0"),
    ({"baselines": {"layer": ["itb_map_ratio"]}}, "'itb_map_ratio' is not valid for layer"),
    ({"layers": [5]}, "layer 5 is out of range"),
    ({"targets": [99]}, "target 99 is out of range: the text has tokens 0..9"),
    ({"layers": [-1]}, "layer -1 is out of range: .* has layers 0..1"),
    ({"targets": []}, "no target given"),
    ({"targets": 3}, "targets must be integers, got 3"),
    ({"granularity": "heads"}, "unknown granularity 'heads'"),
    ({"quadrature": "simpson"}, "unknown quadrature 'simpson'"),
    ({"steps": 0}, "steps must be a positive integer or 'auto'"),
    ({"dtype": "float16"}, "dtype 'float16' is not supported"),
])
def test_bad_input_gets_a_clear_error(bert, kwargs, message):
    args = {"text": TEXT, "model": bert, "steps": 2, **kwargs}
    with pytest.raises(InputError, match=message):
        explain(**args)


@pytest.mark.parametrize(("family", "granularity"), [("mamba", "att"), ("mamba", "mlp")])
def test_att_or_mlp_on_a_block_only_model_is_rejected(tiny_model_dir, family, granularity):
    with pytest.raises(InputError, match=f"granularity '{granularity}' is not available.*offers: layer"):
        explain(TEXT, model=str(tiny_model_dir(family)), granularity=[granularity], steps=2)


def test_columns_with_nothing_to_attribute_are_zero_null_and_raise_no_warning(tiny_model_dir, tmp_path):
    # GPT-2's first token under ITB: its only source is itself, so L(x) = 0 on every route.
    with warnings.catch_warnings():
        warnings.simplefilter("error", api.CompletenessWarning)
        exp = explain(TEXT, model=str(tiny_model_dir("gpt2")), steps=4, targets=[0], dtype="float64",
                      baselines={"att": ["self_input_token"], "mlp": ["att_itb_a0"], "layer": ["self_input_token"]})
    assert not exp.warnings and exp.to_dict()["completeness_warning"] is False
    for layer in exp.layers:
        assert np.all(exp.z2z(layer, "self_input_token")[:, 0] == 0.0)
        assert np.all(exp.att(layer, "self_input_token")[:, :, 0] == 0.0)
        assert np.all(exp.mlp(layer, "att_itb_a0")[0] == 0.0)
        for g, b in (("att", "self_input_token"), ("mlp", "att_itb_a0"), ("layer", "self_input_token")):
            assert np.isnan(exp.completeness(g, layer, b)[..., 0]).all()
    exp.save(tmp_path / "e.json")
    doc = Explanation.load(tmp_path / "e.json").to_dict()
    assert doc["runs"]["layer:self_input_token"]["completeness"][0][0] is None


def test_unknown_model_offline_is_a_model_error():
    with pytest.raises(ModelError, match="no-such-org/no-such-model"):
        explain(TEXT, model="no-such-org/no-such-model", steps=2)


def test_half_precision_model_does_not_crash(tmp_path):
    from tiny_models import build_tiny_model

    folder = build_tiny_model("bert", tmp_path / "bf16", dtype=torch.bfloat16)
    exp = explain(TEXT, model=str(folder), steps=4)  # every granularity and baseline
    assert exp.dtype == "float32"
    for layer in exp.layers:
        assert np.isfinite(exp.z2z(layer, "itb_zero_ratio")).all()
        assert np.isfinite(exp.att(layer, "itb_map_ratio")).all()
        assert np.isfinite(exp.composed(layer, "zero", "att_itb_a0")).all()


def test_public_api_names_are_importable_from_the_package():
    import ligsite
    from ligsite.models.describe import describe_boundaries

    assert ligsite.explain is explain and ligsite.Explanation is Explanation
    assert ligsite.describe_boundaries is describe_boundaries


UNK_TEXT = "Snow ☃ falls on 🐱 cats."  # ☃ and 🐱 are outside MiniLM's WordPiece vocabulary


def test_unknown_tokens_keep_the_characters_they_stand_for(bert, tmp_path):
    """Issue 13: the tokenizer's offsets, recorded at compute time, map [UNK] back to the text."""
    exp = explain(UNK_TEXT, model=bert, steps=2, layers=[0], granularity="layer", baselines={"layer": ["zero"]})
    assert exp.tokens == ["[CLS]", "snow", "[UNK]", "falls", "on", "[UNK]", "cats", ".", "[SEP]"]
    assert exp.unk_token == "[UNK]"
    assert exp.token_spans == [None, (0, 4), (5, 6), (7, 12), (13, 15), (16, 17), (18, 22), (22, 23), None]
    assert exp.unknown_text() == {2: "☃", 5: "🐱"}
    exp.save(tmp_path / "e.json")
    back = Explanation.load(tmp_path / "e.json")
    assert (back.token_spans, back.unk_token, back.unknown_text()) == (exp.token_spans, "[UNK]", {2: "☃", 5: "🐱"})


def test_an_explanation_saved_before_token_spans_loads_without_them(bert):
    exp = explain(TEXT, model=bert, steps=2, layers=[0], granularity="layer", baselines={"layer": ["zero"]})
    doc = exp.to_dict()
    assert doc["schema"] == 1 and doc["schema_minor"] == 2 and doc["unk_token"] == "[UNK]"
    old = {key: value for key, value in doc.items() if key not in ("schema_minor", "token_spans", "unk_token")}
    back = Explanation.from_dict(old)
    assert (back.token_spans, back.unk_token, back.unknown_text()) == (None, None, {})
    assert back.tokens == exp.tokens
