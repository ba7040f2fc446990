"""One untruncated tokenizer pass gives exactly the ids and lengths of the tokenizer's own two calls."""
from __future__ import annotations

import pytest

from audit.model.token_ids import TokenIds
from audit.model.tokenizers import load_tokenizers

CAPTIONS = ["", " ", "a red cat", "A  Red   cat ", "Ünïcödé café ☕ 東京", "a b " * 37 + "a",  # 75 tokens + 2
            "a b " * 38, " ".join(f"w{i}" for i in range(300)), "\n\tnew\nlines\t", "emoji 🙂🙂🙂 " * 30]


@pytest.mark.parametrize("model", [None, "sdxl"])
def test_ids_and_counts_equal_the_tokenizers_own(model, tiny_sdxl):
    for tokenizer, limit in load_tokenizers(str(tiny_sdxl) if model else None):
        ids, counts = TokenIds(tokenizer, limit)(CAPTIONS)
        expected = tokenizer(CAPTIONS, padding="max_length", max_length=limit, truncation=True).input_ids
        assert ids.tolist() == expected
        assert counts.tolist() == [len(x) for x in tokenizer(CAPTIONS, truncation=False, verbose=False).input_ids]
        assert max(counts) > limit and min(counts) == 2  # both truncated and tiny captions were checked


def test_a_tokenizer_that_truncates_otherwise_is_refused():
    tokenizer, limit = load_tokenizers()[0]
    tokenizer.truncation_side = "left"
    with pytest.raises(ValueError, match="first tokens and the end token"):
        TokenIds(tokenizer, limit)
