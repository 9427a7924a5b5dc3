"""Text -> token ids, token strings, word ids and character spans, with the limits of the model checked."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from ligsite.errors import InputError

UNKNOWN_SHARE = 0.5  # more unknown tokens than this share of a sentence's words: a warning


class UnknownTokensWarning(UserWarning):
    """Most of a sentence's tokens are the tokenizer's unknown token: its attributions say little."""


@dataclass(frozen=True)
class Tokenized:
    """One tokenized sentence (special tokens included, as the model sees it)."""

    input_ids: Tensor  # [T] int64
    tokens: list[str]
    word_ids: list[int | None]  # None for special tokens
    # [start, end) of each token in the text (Python string indices); None for a token with no
    # characters (special tokens); the list is None when the tokenizer reports no offsets (slow ones)
    spans: list[tuple[int, int] | None] | None = None
    unk_token: str | None = None  # the tokenizer's unknown token, when it is not also BOS / EOS / PAD


def tokenize(tokenizer, text: str, max_positions: int, model: str = "the model") -> Tokenized:
    """Tokenize one sentence; reject empty text and text longer than the model's positions.

    The limit is the model's position table (not the tokenizer's ``model_max_length``, which
    is a training choice); too-long text is an error, never silently truncated.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"text is empty ({text!r}): give at least one word to explain")
    fast = bool(getattr(tokenizer, "is_fast", False))  # only fast tokenizers report offsets
    encoding = tokenizer(text, add_special_tokens=True, truncation=False, verbose=False, return_offsets_mapping=fast)
    ids: list[int] = list(encoding["input_ids"])
    if len(ids) > max_positions:
        raise InputError(
            f"text has {len(ids)} tokens but {model} accepts at most {max_positions} "
            f"(its position limit); shorten the text"
        )
    tokens = tokenizer.convert_ids_to_tokens(ids)
    _warn_unknown(tokenizer, ids, text, model)
    return Tokenized(torch.tensor(ids, dtype=torch.long), list(tokens), _word_ids(tokenizer, encoding, ids),
                     _spans(encoding) if fast else None, _unk_token(tokenizer))


def _spans(encoding) -> list[tuple[int, int] | None] | None:
    """Each token's character span in the text, None where it covers no character."""
    offsets = encoding.get("offset_mapping")
    if offsets is None:
        return None
    return [(int(start), int(end)) if end > start else None for start, end in offsets]


def _unk_token(tokenizer) -> str | None:
    """The unknown token's string, unless it doubles as another special token (GPT-2's
    <|endoftext|> is its unk, bos and eos at once: such a token stands for no characters)."""
    unknown = tokenizer.unk_token_id
    if unknown is None or unknown in {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}:
        return None
    return str(tokenizer.unk_token)


def _warn_unknown(tokenizer, ids: list[int], text: str, model: str) -> None:
    """Warn when more than UNKNOWN_SHARE of the (non-special) tokens are the unknown token."""
    unknown, special = tokenizer.unk_token_id, set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    words = [token_id for token_id in ids if token_id not in special]
    count = sum(token_id == unknown for token_id in words) if unknown is not None else 0
    if words and count / len(words) > UNKNOWN_SHARE:
        shown = text if len(text) <= 60 else text[:59] + "…"
        warnings.warn(f"{count} of {len(words)} tokens of {shown!r} are unknown to the tokenizer of {model} "
                      f"({tokenizer.unk_token}); is it the model's own tokenizer, and the text in its language?",
                      UnknownTokensWarning, stacklevel=2)


def _word_ids(tokenizer, encoding, ids: list[int]) -> list[int | None]:
    """The word of each token; slow tokenizers have no word map, so each token is its own word."""
    if getattr(encoding, "is_fast", False):
        return list(encoding.word_ids())
    special = set(tokenizer.all_special_ids)
    out: list[int | None] = []
    word = 0
    for token_id in ids:  # once per sentence, not a hot path
        out.append(None if token_id in special else word)
        word += token_id not in special
    return out
