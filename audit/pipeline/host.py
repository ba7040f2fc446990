"""The scan's first scoring actor (the host): it gives the stage's run parameters and scores a small scan's keys
(or, `--no-dedup`, its rows).
On Ray it is an actor (`RemoteHost`); a small scan on this machine alone has it in the driver (`LocalHost`)."""
from __future__ import annotations

from typing import Iterable, Iterator

import pandas as pd
import pyarrow as pa
import ray

from audit.pipeline.actors import score_rows
from audit.pipeline.dedup.distinct import KeyScorerActor
from audit.scoring.stage import ScoreStage


class HostActor:
    """A key-scoring actor started before the pipeline; it sets the stage up (loads the model) at its first call,
    so `placed` answers as soon as Ray has placed it, and an error setting up reaches the driver as raised."""

    def __init__(self, stage: ScoreStage, torch_threads: int, output: str):
        self.args, self.scorer = (stage, torch_threads, output), None

    def placed(self) -> bool:
        return True

    def _scorer(self) -> KeyScorerActor:
        if self.scorer is None:
            self.scorer = KeyScorerActor(*self.args)
        return self.scorer

    def metadata(self) -> dict:
        """The stage's run parameters (`ScoreStage.metadata`), computed where the actor runs."""
        return self._scorer().stage.metadata()

    def score(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Score and store the distinct keys of `batch` (`KeyScorerActor.__call__`)."""
        return self._scorer()(batch)

    def score_rows(self, batch: pd.DataFrame) -> pa.Table:
        """Score every read row of `batch` (`actors.score_rows`)."""
        return score_rows(self._scorer().stage, batch)


class RemoteHost:
    """A `HostActor` on Ray: calls are queued at once, results taken in order."""

    def __init__(self, handle):
        self.handle = handle

    def score_all(self, batches: Iterable[pd.DataFrame], rows: bool = False) -> Iterator[pd.DataFrame | pa.Table]:
        """Each batch's result, in order: its distinct keys scored (`HostActor.score`), or with `rows` every row."""
        method = self.handle.score_rows if rows else self.handle.score
        calls = [method.remote(b) for b in batches]
        return (ray.get(call) for call in calls)

    def stop(self) -> None:
        """Kill the actor: its resources go to the pool."""
        ray.kill(self.handle)


class LocalHost:
    """A `HostActor` in this process (torch keeps this process's threads)."""

    def __init__(self, stage: ScoreStage, output: str):
        import torch

        self.actor = HostActor(stage, torch.get_num_threads(), output)

    def metadata(self) -> dict:
        return self.actor.metadata()

    def score_all(self, batches: Iterable[pd.DataFrame], rows: bool = False) -> Iterator[pd.DataFrame | pa.Table]:
        method = self.actor.score_rows if rows else self.actor.score
        return (method(b) for b in batches)

    def stop(self) -> None:
        """Nothing to free: the model goes with the scan."""
