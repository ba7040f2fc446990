"""The scoring actor of the scan pipeline (`--no-dedup`): every read row scored."""
from __future__ import annotations

import time

import pandas as pd
import pyarrow as pa

from audit import schemas
from audit.cluster.actors import StageActor
from audit.cluster.usage import call_record


class ScorerActor(StageActor):
    """Loads the scoring stage once; each call scores a batch of read rows, each row naming the call."""

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        start, began = time.perf_counter(), time.time()
        scored = self.stage.process(batch)
        scored["seconds"] = (time.perf_counter() - start) / max(len(scored), 1)
        scored = scored.assign(**call_record(began))
        return pa.Table.from_pandas(scored[schemas.SCORED.names], schema=schemas.SCORED, preserve_index=False)
