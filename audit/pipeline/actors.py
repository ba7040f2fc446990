"""The pipeline's score stage: a callable class for `map_batches`, one model load per Ray actor."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa

from audit.pipeline import schemas
from audit.scoring.stage import ScoreStage


class ScorerActor:
    """Loads the scoring stage once; each call scores a batch of read rows."""

    def __init__(self, stage: ScoreStage, torch_threads: int):
        import torch

        torch.set_num_threads(torch_threads)
        stage.setup()
        self.stage = stage

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        scored = self.stage.process(batch)
        return pa.Table.from_pandas(scored[schemas.SCORED.names], schema=schemas.SCORED, preserve_index=False)


def describe_stage(stage: ScoreStage) -> dict:
    """The stage's run parameters (`ScoreStage.metadata`), computed where the actors will run."""
    stage.setup()
    return stage.metadata()
