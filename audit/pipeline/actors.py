"""The scoring actor of the scan pipeline (`--no-dedup`): every read row scored."""
from __future__ import annotations

import time

import pandas as pd
import pyarrow as pa

from audit import schemas
from audit.cluster.actors import StageActor
from audit.cluster.usage import call_record

ACTOR_BATCHES = 8  # engine batches per actor call: fewer round trips per row, and the scorer tokenizes batch i+1
# while the device runs i


def score_rows(stage, batch: pd.DataFrame) -> pa.Table:
    """Score a batch of read rows with a set-up stage; each row names the call and its share of the call's seconds."""
    start, began = time.perf_counter(), time.time()
    scored = stage.process(batch)
    scored["seconds"] = (time.perf_counter() - start) / max(len(scored), 1)
    scored = scored.assign(**call_record(began))
    return pa.Table.from_pandas(scored[schemas.SCORED.names], schema=schemas.SCORED, preserve_index=False)


class ScorerActor(StageActor):
    """Loads the scoring stage once; each call scores a batch of read rows (`score_rows`)."""

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        return score_rows(self.stage, batch)
