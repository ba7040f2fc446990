"""The score's parameters, importable without torch (the stage a scan hands to its actors carries them)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreConfig:
    """Parameters that change a caption's numbers (generations, seed, formulas) or only speed (batch sizes)."""

    generations: int = 1
    seed: int = 51
    batch_size: int | None = None  # None: CPU_BATCH on CPU, on CUDA chosen from free memory (audit.scoring.batching)
    max_unet_rows: int = 512
    authors_sd2: bool = False
    compile: bool = False  # torch.compile the UNet (channels-last); pays off on GPUs over long runs
