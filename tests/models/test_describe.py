"""describe_boundaries: sizes and boundary names from the config alone, or from loaded weights."""

from __future__ import annotations

import pytest

from ligsite.errors import ModelError
from ligsite.models.describe import describe_boundaries
from tiny_models import tiny_config


def test_minilm_from_config(minilm_dir):
    info = describe_boundaries("sentence-transformers/all-MiniLM-L6-v2")
    assert (info["family"], info["model_type"]) == ("bert", "bert")
    assert (info["n_layers"], info["n_heads"], info["head_dim"], info["hidden_size"]) == (6, 12, 32, 384)
    assert info["max_positions"] == 512 and info["causal"] is False
    assert info["granularities"] == ["att", "mlp", "layer"]
    names = [b["name"] for b in info["boundaries"]]
    assert len(names) == 6 * 8 and names[0] == "blocks.0.z_in" and names[-1] == "blocks.5.z_out"
    assert {"name": "blocks.2.att.u[h]", "shape": "[T, H, d]"}.items() <= info["boundaries"][2 * 8 + 5].items()
    assert "identity" not in info


def test_config_only_folder_needs_no_weights(tmp_path):
    tiny_config("gpt2", n_layers=12).save_pretrained(tmp_path)  # no weights file at all
    info = describe_boundaries(str(tmp_path))
    assert (info["family"], info["n_layers"], info["n_heads"], info["head_dim"]) == ("gpt2", 12, 4, 8)
    assert info["causal"] is True and info["max_positions"] == 128
    with pytest.raises(ModelError, match="cannot be loaded"):
        describe_boundaries(str(tmp_path), load_weights=True)


def test_block_only_family_lists_z_in_and_z_out(tmp_path):
    tiny_config("mamba", n_layers=3).save_pretrained(tmp_path)
    info = describe_boundaries(str(tmp_path))
    assert info["granularities"] == ["layer"]
    assert [b["name"] for b in info["boundaries"]] == [f"blocks.{l}.{n}" for l in range(3) for n in ("z_in", "z_out")]


def test_load_weights_adds_identity(tiny_model_dir):
    folder = tiny_model_dir("distilbert")
    info = describe_boundaries(str(folder), load_weights=True)
    assert info["family"] == "distilbert" and info["identity"].startswith(f"{folder.name}@sha256:")
    assert info["weights_dtype"] == "float32" and info["parameters"] > 30522 * 32
    assert {k: v for k, v in info.items() if k not in ("identity", "weights_dtype", "parameters")} == describe_boundaries(str(folder))


def test_unknown_model_offline_is_a_model_error():
    with pytest.raises(ModelError, match="not available offline"):
        describe_boundaries("nobody/no-such-model-xyz")


def test_prenorm_family_lists_gqa_groups_and_windows_per_block(tmp_path):
    from tiny_models import decoder_config

    decoder_config("gemma3_text", n_layers=3).save_pretrained(tmp_path)
    info = describe_boundaries(str(tmp_path))
    assert info["granularities"] == ["att", "mlp", "layer"] and info["family"] == "gemma"
    assert [(a["attention"], a["window"]) for a in info["attention"]] == [("sliding", 5), ("global", None), ("sliding", 5)]
    assert {(a["kv_heads"], a["query_heads_per_kv_head"]) for a in info["attention"]} == {(2, 2)}
    assert "blocks.2.att.u[h]" in {b["name"] for b in info["boundaries"]}
