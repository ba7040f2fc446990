"""DDIM sampling with classifier-free guidance from given text states (captions or adapted embeddings)."""
from __future__ import annotations

import torch
from diffusers import DDIMScheduler


@torch.no_grad()
def ddim_sample(unet, scheduler_config: dict, cond, uncond, noise: torch.Tensor,
                guidance: float = 7.5, steps: int = 50, chunk: int = 256) -> torch.Tensor:
    """Denoise `noise` (B, C, H, W) conditioned on `cond` (B rows); `uncond` has one row. Returns x_0 estimates.

    `cond` and `uncond` are text states (`audit.model.conditioning.TextStates`: rows, `expand`, `cat`,
    `unet_kwargs`). Rows are processed `chunk` at a time; the result does not depend on the chunking.
    """
    outs = []
    for i in range(0, noise.shape[0], chunk):
        scheduler = DDIMScheduler.from_config(scheduler_config)
        scheduler.set_timesteps(steps)
        x, c = noise[i : i + chunk], cond[i : i + chunk]
        states = type(c).cat([uncond.expand(len(x)), c]).unet_kwargs()
        for t in scheduler.timesteps:
            pred = unet(torch.cat([x, x]), t, **states).sample
            e_u, e_c = pred.chunk(2)
            x = scheduler.step(e_u + guidance * (e_c - e_u), t, x).prev_sample
        outs.append(x)
    return torch.cat(outs)
