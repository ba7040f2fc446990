"""The two probe timesteps, taken from the model's own 50-step DDIM schedule."""
from __future__ import annotations

from diffusers import DDIMScheduler

N_INFERENCE_STEPS = 50


def probe_timesteps(scheduler_config: dict) -> tuple[int, int]:
    """(t_hi, t_lo): the first and the third-from-last timestep of the 50-step DDIM schedule (981, 41 for SD)."""
    scheduler = DDIMScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(N_INFERENCE_STEPS)
    steps = [int(t) for t in scheduler.timesteps]
    return steps[0], steps[-3]
