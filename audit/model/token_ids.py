"""Token ids as the scorer feeds them to a text encoder (truncated to the limit, then padded) and each caption's
untruncated length, both from one untruncated pass of the tokenizer's Rust backend.

Asking the tokenizer twice (once truncated and padded, once untruncated for the length) cost 4x the time of
this pass; keying and scoring both tokenize every caption they see.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

PROBES = ("", "a photo of a cat", "Ünïcödé café ☕ 東京 " * 3, " ".join(f"word{i}" for i in range(200)))
LIMIT_SENTINEL = 100_000  # tokenizers without a limit report a huge model_max_length


def token_limit(tokenizer: object, encoder_config: object) -> int:
    """The token limit the scorer truncates to: the tokenizer's, else the text encoder's position count."""
    limit = int(getattr(tokenizer, "model_max_length", 77))
    if limit > LIMIT_SENTINEL:
        limit = int(getattr(encoder_config, "max_position_embeddings", 77))
    return limit


class TokenIds:
    """One tokenizer's padded, truncated ids at `limit` tokens: the first limit-1 tokens and the end token."""

    def __init__(self, tokenizer, limit: int):
        self.backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())  # our copy: no shared state
        self.backend.no_truncation()
        self.backend.no_padding()
        self.limit, self.pad = limit, tokenizer.pad_token_id
        for probe in PROBES:
            expected = tokenizer(probe, padding="max_length", max_length=limit, truncation=True).input_ids
            if self([probe])[0][0].tolist() != expected:
                raise ValueError(f"{type(tokenizer).__name__} {tokenizer.name_or_path!r}: its truncation does not keep "
                                 "the first tokens and the end token; only CLIP-style tokenizers are supported")

    def __call__(self, captions: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Ids (len(captions), limit), int64, and untruncated token counts (special tokens included)."""
        ids = np.full((len(captions), self.limit), self.pad, np.int64)
        counts = np.empty(len(captions), np.int64)
        for i, encoding in enumerate(self.backend.encode_batch(captions)):
            row = encoding.ids
            counts[i] = len(row)
            if len(row) > self.limit:
                row = row[: self.limit - 1] + row[-1:]
            ids[i, : len(row)] = row
        return ids, counts


def tokenize(parts: Sequence[TokenIds], captions: list[str]) -> tuple[np.ndarray, list[int]]:
    """Ids (len(captions), sum of the limits): each tokenizer's in turn; and each caption's untruncated count, the
    larger of the counts of the tokenizers with the smallest limit (the stricter: SD3's CLIP pair, not its T5)."""
    pairs = [part(captions) for part in parts]
    strict = min(part.limit for part in parts)
    counts = np.max([n for part, (_, n) in zip(parts, pairs) if part.limit == strict], axis=0)
    return np.concatenate([ids for ids, _ in pairs], axis=1), counts.tolist()
