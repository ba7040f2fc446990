"""Callable classes for `map_batches`: one model load per Ray actor, then one call per batch."""
from __future__ import annotations

import time

import pandas as pd
import pyarrow as pa

from audit.pipeline import schemas
from audit.scoring.stage import ScoreStage


class StageActor:
    """Base of the `map_batches` classes: sets torch's threads and sets the stage up once per actor."""

    def __init__(self, stage, torch_threads: int):
        import torch

        torch.set_num_threads(torch_threads)
        stage.setup()
        self.stage = stage


class ScorerActor(StageActor):
    """Loads the scoring stage once; each call scores a batch of read rows."""

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        start = time.perf_counter()
        scored = self.stage.process(batch)
        scored["seconds"] = (time.perf_counter() - start) / max(len(scored), 1)
        return pa.Table.from_pandas(scored[schemas.SCORED.names], schema=schemas.SCORED, preserve_index=False)


def describe_stage(stage: ScoreStage) -> dict:
    """The stage's run parameters (`ScoreStage.metadata`), computed where the actors will run."""
    stage.setup()
    return stage.metadata()
