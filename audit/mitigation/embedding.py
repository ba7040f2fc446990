"""The paper's mitigation: gradient descent on the prompt's text-encoder states with the score as the loss."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from audit.scoring.engine import Scorer
from audit.scoring.profiles import Profile
from audit.scoring.terms import combine


@dataclass
class Adapted:
    """Adapted states (1, L, D), their final score, the steps taken, and whether the score got under the threshold."""

    states: torch.Tensor
    score: float
    steps: int
    converged: bool


def adapt_embedding(scorer: Scorer, caption: str, profile: Profile, threshold: float,
                    lr: float = 0.05, max_steps: int = 50) -> Adapted:
    """AdamW on the caption's states with x_T fixed (the scorer's noise bank) until S <= threshold.

    S is averaged over the scorer's latents; with several, the states cannot merely fit one noise sample.
    """
    states = scorer.caption_states([caption]).float().clone().requires_grad_(True)
    opt = torch.optim.AdamW([states], lr=lr)
    dtype = scorer.model.dtype
    score, step = float("inf"), 0
    for step in range(max_steps + 1):
        norm, cos = scorer.terms_from_states(states.to(dtype))
        loss = combine(norm, cos, profile).mean()
        score = float(loss.detach())
        if score <= threshold or step == max_steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return Adapted(states.detach().to(dtype), score, step, score <= threshold)
