"""Caption keys: a hash of the token ids the model sees (after truncation), so that every caption with the same
key gets the same score and dataset-wide dedup scores each key once.

Captions that differ only past the token limit, or only in what the tokenizer erases, share a key.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.model.token_ids import TokenIds, tokenize
from audit.model.tokenizers import load_tokenizers
from audit.readers.status import OK, combine_status

CACHE_CAPTIONS = 1_000_000  # distinct caption strings remembered per worker: frequent captions are tokenized once
NO_TOKENS = "no_tokens"  # the status of a caption whose tokens equal the empty prompt's (zero guidance)


def key_of(ids: np.ndarray) -> str:
    """The key of one caption's truncated, padded token ids (all tokenizers' ids, concatenated): 128-bit hex."""
    return hashlib.blake2b(np.ascontiguousarray(ids, dtype=np.int64).tobytes(), digest_size=16).hexdigest()


@dataclass
class KeyStage:
    """Tokenizes captions as the scorer does and keys them; loads only the tokenizers (`setup`), once per worker."""

    model: str | None = None

    def setup(self) -> None:
        self.tokenizers = load_tokenizers(self.model)
        self.token_ids = [TokenIds(tok, limit) for tok, limit in self.tokenizers]
        self.cache: dict[str, tuple[str | None, int]] = {}
        self.empty_key = self._tokenize([""])[0][0]

    def _tokenize(self, captions: list[str]) -> tuple[list[str], list[int]]:
        """Keys and untruncated token counts (the stricter tokenizer's, as the scorer reports them) of `captions`."""
        ids, counts = tokenize(self.token_ids, captions)
        return [key_of(row) for row in ids.reshape(len(captions), -1)], counts  # rows: every tokenizer's ids in turn

    def keys(self, captions: list[str]) -> list[tuple[str | None, int]]:
        """(key, untruncated token count) per caption; the key is None when its tokens equal the empty prompt's."""
        new = [c for c in dict.fromkeys(captions) if c not in self.cache]
        if new:
            if len(self.cache) + len(new) > CACHE_CAPTIONS:
                self.cache.clear()
            keys, counts = self._tokenize(new)
            self.cache.update((c, (None if k == self.empty_key else k, n)) for c, k, n in zip(new, keys, counts))
        return [self.cache[c] for c in captions]

    def process(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Add `status`, `caption_key`, `n_tokens` and `truncated` to a frame with `caption` and optional
        `read_status`; rows that cannot be scored (including `no_tokens`) get no key."""
        read = frame["read_status"] if "read_status" in frame else pd.Series([None] * len(frame), index=frame.index)
        status = [combine_status(r, c) for r, c in zip(read, frame["caption"])]
        ok = [i for i, s in enumerate(status) if s == OK]
        keys: list[str | None] = [None] * len(frame)
        counts: list[int | None] = [None] * len(frame)
        captions = frame["caption"].tolist()
        for i, (key, n) in zip(ok, self.keys([captions[i] for i in ok])):
            keys[i], counts[i] = key, n
            if key is None:
                status[i] = NO_TOKENS
        limit = min(limit for _, limit in self.tokenizers)
        out = frame.drop(columns=["read_status"], errors="ignore").copy()
        out["caption_key"] = keys
        out["n_tokens"] = pd.array(counts, dtype="Int64")
        out["truncated"] = pd.array([None if n is None else n > limit for n in counts], dtype="boolean")
        out["status"] = status
        return out


def with_keys(scored: pd.DataFrame, stage: KeyStage) -> pd.DataFrame:
    """`scored` (rows scored in-process, `caption` column) plus `caption_key` and `dup_count`: the rows of this
    frame with the same key; null for rows that were not scored."""
    keys = stage.process(scored[["caption"]])["caption_key"]
    keys = keys.where(scored["status"].eq(OK).to_numpy(), None)
    counts = keys.map(keys.value_counts())
    return scored.assign(caption_key=keys.to_numpy(), dup_count=pd.array(counts.to_numpy(), dtype="Int64"))
