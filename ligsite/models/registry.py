"""The family table: model type -> adapter class -> granularities (explicit, one place).

Adding a family is one adapter class and one line here; an unknown model type gets a
``ModelError`` that names every supported one.
"""

from __future__ import annotations

from ligsite.errors import ModelError
from ligsite.models.bert import BertAdapter, RobertaAdapter
from ligsite.models.albert import AlbertAdapter
from ligsite.models.deberta import DebertaAdapter
from ligsite.models.distilbert import DistilBertAdapter
from ligsite.models.gemma import GemmaAdapter
from ligsite.models.gpt2 import GPT2Adapter
from ligsite.models.hf import HFAdapter
from ligsite.models.llama import LlamaAdapter
from ligsite.models.mamba import MambaAdapter
from ligsite.models.modernbert import ModernBertAdapter
from ligsite.models.mpnet import MPNetAdapter
from ligsite.models.switch import SwitchAdapter

FAMILIES: dict[str, type[HFAdapter]] = {
    "bert": BertAdapter,
    "roberta": RobertaAdapter,
    "xlm-roberta": RobertaAdapter,
    "camembert": RobertaAdapter,
    "electra": BertAdapter,
    "distilbert": DistilBertAdapter,
    "albert": AlbertAdapter,
    "gpt2": GPT2Adapter,
    "llama": LlamaAdapter,
    "mistral": LlamaAdapter,
    "qwen2": LlamaAdapter,
    "qwen3": LlamaAdapter,
    "gemma": GemmaAdapter,
    "gemma2": GemmaAdapter,
    "gemma3_text": GemmaAdapter,
    "gemma3": GemmaAdapter,
    "modernbert": ModernBertAdapter,
    "switch_transformers": SwitchAdapter,
    "mpnet": MPNetAdapter,
    "mamba": MambaAdapter,
    "deberta": DebertaAdapter,
    "deberta-v2": DebertaAdapter,
}


def granularities(model_type: str) -> tuple[str, ...]:
    """The granularities a model type supports ("att", "mlp", "layer" or just "layer")."""
    return adapter_class(model_type).granularities


def adapter_class(model_type: str) -> type[HFAdapter]:
    """The adapter for a HF ``config.model_type``; ModelError naming the supported types."""
    try:
        return FAMILIES[model_type]
    except KeyError:
        full = sorted(t for t, a in FAMILIES.items() if "att" in a.granularities)
        block_only = sorted(t for t, a in FAMILIES.items() if "att" not in a.granularities)
        raise ModelError(
            f"model type {model_type!r} is not supported; supported: {', '.join(full)} "
            f"(att, mlp, layer) and {', '.join(block_only)} (layer only)"
        ) from None
