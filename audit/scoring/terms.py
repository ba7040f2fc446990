"""Pure tensor functions for the two terms of the score; inputs are (..., C, H, W) float32 tensors."""
from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from audit.scoring.profiles import Profile

T = TypeVar("T")  # tensors, arrays, pandas series or floats


def v_to_eps(v: torch.Tensor, x_t: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """Convert a v-prediction to a noise prediction: eps = sqrt(a) v + sqrt(1 - a) x_t."""
    return alpha_bar**0.5 * v + (1.0 - alpha_bar) ** 0.5 * x_t


def flow_to_eps(v: torch.Tensor, x_t: torch.Tensor, sigma: float) -> torch.Tensor:
    """The noise implied by a flow model's velocity (x_t = (1 - sigma) x0 + sigma eps, v = eps - x0):
    eps = x_t + (1 - sigma) v. Its guidance vanishes at sigma = 1: the norm term takes v there."""
    return x_t + (1.0 - sigma) * v


def norm_term(e_cond: torch.Tensor, e_uncond: torch.Tensor) -> torch.Tensor:
    """L2 norm of the guidance e_c - e_u over the whole flattened latent (Wen et al.'s detector)."""
    return (e_cond - e_uncond).flatten(-3).norm(dim=-1)


def cosine_term(e_cond: torch.Tensor, e_uncond: torch.Tensor) -> torch.Tensor:
    """Spatial mean of the cosine, across channels, between e_u and the guidance g = e_c - e_u."""
    guidance = e_cond - e_uncond
    return F.cosine_similarity(e_uncond, guidance, dim=-3, eps=1e-12).mean(dim=(-2, -1))


def authors_sd2_norm(v_cond: torch.Tensor, v_uncond: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """The released code's SD 2.x norm: || sqrt(a) (v_c - v_u) / (1 - a) || on raw v outputs."""
    return norm_term(alpha_bar**0.5 * v_cond / (1.0 - alpha_bar), alpha_bar**0.5 * v_uncond / (1.0 - alpha_bar))


def combine(norm: T, cosine: T, profile: Profile) -> T:
    """The combined score S = w_norm N + w_cos C of the profile's weights; larger means more likely memorized.

    The one place the two terms are combined: scoring, mitigation and evaluation all call it.
    """
    return profile.w_norm * norm + profile.w_cos * cosine
