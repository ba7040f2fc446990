"""Verify memorization by sampling: is the nearest training image of a generated image the caption's own?"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from audit.model.components import FLOW
from audit.sampling.ddim import ddim_sample
from audit.sampling.flow import flow_sample


def nearest_training_image(samples: torch.Tensor, train_images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of, and cosine similarity to, the nearest training image of each sample (flattened pixels)."""
    sims = F.normalize(samples.flatten(1), dim=1) @ F.normalize(train_images.flatten(1), dim=1).T
    best, idx = sims.max(dim=1)
    return idx, best


def own_image_similarity(samples: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each sample to its caption's own training image."""
    return F.cosine_similarity(samples.flatten(1), own.flatten(1), dim=1)


def sample_captions(model, captions: list[str], seeds: list[int], guidance: float = 7.5,
                    steps: int = 50) -> torch.Tensor:
    """Samples (len(seeds), len(captions), C, H, W), DDIM (flow models: Euler, 28 steps); seed s draws the same
    noise for every caption."""
    with torch.no_grad():
        cond = model.text.encode(model.text.tokenize(captions)[0].to(model.device))
        uncond = model.text.unconditional(model.device)
    out = []
    for seed in seeds:
        noise = torch.randn((1, *model.latent_shape), generator=torch.Generator().manual_seed(seed))
        noise = noise.expand(len(captions), -1, -1, -1).contiguous()
        if model.prediction_type == FLOW:  # SD3's default of 28 steps
            out.append(flow_sample(model.unet, model.scheduler_config, cond, uncond, noise, guidance))
        else:
            out.append(ddim_sample(model.unet, model.scheduler_config, cond, uncond, noise, guidance, steps))
    return torch.stack(out)
