"""Euler sampling of a flow-matching model with classifier-free guidance from given text states."""
from __future__ import annotations

import torch
from diffusers import FlowMatchEulerDiscreteScheduler


@torch.no_grad()
def flow_sample(net, scheduler_config: dict, cond, uncond, noise: torch.Tensor, guidance: float = 7.5,
                steps: int = 28) -> torch.Tensor:
    """Integrate from `noise` (B, C, H, W) at sigma 1 to sigma 0 with the folder's scheduler; `cond` has B rows,
    `uncond` one (text states: `expand`, `cat`, `denoise`). Returns the x_0 samples."""
    scheduler = FlowMatchEulerDiscreteScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(steps)
    states = type(cond).cat([uncond.expand(len(noise)), cond])
    x = noise
    for t in scheduler.timesteps:
        v_u, v_c = states.denoise(net, torch.cat([x, x]), t.expand(2 * len(x))).chunk(2)
        x = scheduler.step(v_u + guidance * (v_c - v_u), t, x).prev_sample
    return x
