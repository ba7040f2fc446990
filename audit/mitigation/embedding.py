"""The paper's mitigation: gradient descent on the prompt's text-encoder states with the score as the loss.

For SDXL the pooled embedding is adapted together with the token states: both condition the UNet.

Several captions are adapted in one forward and backward pass: the loss is the sum of their scores, so each
caption's gradient is its own, AdamW updates element-wise, and a caption that reaches the target leaves the
batch with the states it had then. A caption's result is the one it gets alone, within float tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from audit.model.conditioning import TextStates
from audit.scoring.engine import Scorer
from audit.scoring.profiles import Profile
from audit.scoring.terms import combine


@dataclass
class Adapted:
    """Adapted states (one row), their final score, the steps taken, and whether the score got under the target."""

    states: TextStates
    score: float
    steps: int
    converged: bool


def adapt_embeddings(scorer: Scorer, captions: list[str], profile: Profile, target: float,
                     lr: float = 0.05, max_steps: int = 50) -> list[Adapted]:
    """AdamW on the captions' states with x_T fixed (the scorer's noise bank), each until its S <= target.

    S is averaged over the scorer's latents; with several, the states cannot merely fit one noise sample.
    """
    states = scorer.caption_states(captions).apply(lambda t: t.float().clone().requires_grad_(True))
    opt = torch.optim.AdamW(states.tensors(), lr=lr)
    dtype = scorer.model.dtype
    results: dict[int, Adapted] = {}
    active = list(range(len(captions)))
    for step in range(max_steps + 1):
        norm, cos = scorer.terms_from_states(states[active].apply(lambda t: t.to(dtype)))
        scores = combine(norm, cos, profile)
        keep = []
        for k, (i, score) in enumerate(zip(active, scores.detach().tolist())):
            if score <= target or step == max_steps:
                results[i] = Adapted(states[i : i + 1].apply(lambda t: t.detach().to(dtype).clone()), score, step,
                                     score <= target)
            else:
                keep.append(k)
        if not keep:
            break
        opt.zero_grad(set_to_none=True)
        scores[keep].sum().backward()
        opt.step()
        active = [active[k] for k in keep]
    return [results[i] for i in range(len(captions))]
