"""Trigger tokens: how much each word of a caption contributes to its memorization score.

Two methods: `leave_one_out` (exact: re-score the caption without each word, in one batch) and
`gradient_x_input` (a first-order estimate from one forward and backward pass, cheaper for long captions).
"""
from __future__ import annotations

from typing import Callable

import torch

from audit.model.conditioning import token_embedding
from audit.scoring.engine import Scorer
from audit.scoring.profiles import Profile
from audit.scoring.terms import combine

ScoreFn = Callable[[list[str]], list[float]]
METHODS = ("leave-one-out", "gradient")


def words(caption: str) -> list[str]:
    """The caption's whitespace-separated words: the units users read, drop and replace."""
    return caption.split()


def leave_one_out(caption: str, score_fn: ScoreFn) -> list[tuple[str, float]]:
    """(word, contribution) for each word: the score drop when that word alone is removed, in one batch."""
    return leave_one_out_batch([caption], score_fn)[0]


def leave_one_out_batch(captions: list[str], score_fn: ScoreFn) -> list[list[tuple[str, float]]]:
    """`leave_one_out` of several captions, every caption and variant scored in one call (one engine batch).

    A single-word caption has no variant to compare with: its one word carries the whole score (nan).
    """
    batch, spans = [], []
    for caption in captions:
        tokens = words(caption)
        variants = [" ".join(tokens[:i] + tokens[i + 1 :]) for i in range(len(tokens))] if len(tokens) > 1 else []
        spans.append((len(batch), tokens, bool(variants)))
        batch += [caption, *variants] if variants else []
    scores = score_fn(batch) if batch else []
    return [[(t, scores[at] - scores[at + 1 + i] if ok else float("nan")) for i, t in enumerate(tokens)]
            for at, tokens, ok in spans]


def token_words(scorer: Scorer, caption: str, encoder: int = 0) -> list[int]:
    """For each token position the scorer feeds a text encoder (SDXL: 0 or 1; SD3: 2 is T5), the index of its word
    (-1: special or padding)."""
    tokenizer = scorer.text.tokenizers[encoder]
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("gradient attribution needs a fast tokenizer (token offsets); use leave-one-out")
    offsets = tokenizer(caption, truncation=True, max_length=scorer.text.token_ids[encoder].limit, padding="max_length",
                        return_offsets_mapping=True).offset_mapping
    ends, end = [], 0
    for word in words(caption):
        end = caption.index(word, end) + len(word)
        ends.append(end)
    return [-1 if stop <= start else next(i for i, e in enumerate(ends) if start < e) for start, stop in offsets]


def gradient_x_input(scorer: Scorer, caption: str, profile: Profile) -> list[tuple[str, float]]:
    """(word, contribution) for each word: gradient x input of the score on the word's token embeddings, summed
    over its tokens and over the text encoders (SDXL: both, reaching the score through their states and the
    pooled embedding; SD3: both CLIP encoders and T5).

    It is the score's derivative as the word's token embeddings are scaled from zero to their value; words
    cut off by the tokenizer's length limit get 0 (the score never sees them).
    """
    text = scorer.text
    ids = scorer.tokenize([caption])[0]
    owners = [torch.tensor(token_words(scorer, caption, k)) for k in range(len(text.tokenizers))]
    seen: list[torch.Tensor] = []

    def keep(module, inputs, output):  # the embedding weights are frozen: make the output a leaf that takes grad
        seen.append(output.detach().float().requires_grad_(True))
        return seen[-1].to(output.dtype)

    hooks = [token_embedding(enc).register_forward_hook(keep) for enc in text.encoders]
    try:
        with torch.enable_grad():
            norm, cos = scorer.terms_from_states(text.encode(ids))
            combine(norm, cos, profile).sum().backward()
    finally:
        for hook in hooks:
            hook.remove()
    if len(seen) != len(text.encoders):
        raise ValueError(f"gradient attribution reached the token embeddings of {len(seen)} of {len(text.encoders)} "
                         "text encoders; use leave-one-out")
    per_token = [(leaf.grad * leaf.detach()).sum(-1)[0].cpu() for leaf in seen]
    return [(w, float(sum(p[owner == i].sum() for p, owner in zip(per_token, owners)))) for i, w in enumerate(words(caption))]
