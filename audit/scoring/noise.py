"""The shared bank of pure-noise latents x_T, identical for every caption, batch and worker."""
from __future__ import annotations

import torch


def noise_bank(n: int, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """n float32 latents drawn on the CPU from `seed`, so the bank is the same on every device."""
    if n < 1:
        raise ValueError(f"generations must be >= 1, got {n}")
    generator = torch.Generator("cpu").manual_seed(seed)
    return torch.randn((n, *shape), generator=generator, dtype=torch.float32)
