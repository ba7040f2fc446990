"""The base of the `map_batches` classes: one stage set up per Ray actor, then one call per batch."""
from __future__ import annotations


class StageActor:
    """Sets torch's threads and sets the stage up (loads its model) once per actor."""

    def __init__(self, stage, torch_threads: int):
        import torch

        torch.set_num_threads(torch_threads)
        stage.setup()
        self.stage = stage
