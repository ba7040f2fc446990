"""Place the scoring stage on the actors' resources, or fail in one line when the cluster cannot host them.

A task asking for a GPU that no node has waits forever in Ray (it is "infeasible" until an autoscaler adds
a node), so a scan checks the cluster first and waits only as long as the user allows (`--gpu-wait`).
The first actor of the pool (`HostActor`) gives the stage's run parameters and, on a small scan, scores it.
"""
from __future__ import annotations

import pandas as pd
import ray

from audit.cluster.pool import PoolOptions
from audit.pipeline.dedup.distinct import KeyScorerActor
from audit.scoring.stage import ScoreStage


class PlacementError(ValueError):
    """The Ray cluster lacks the resources of the scoring actors."""


def gpu_shortfall(pool: PoolOptions, cluster: dict) -> str | None:
    """Why `cluster` (Ray's resource totals) cannot hold the pool's GPU actors now; None when it can."""
    need = pool.resources.get("num_gpus", 0) * pool.size
    have = cluster.get("GPU", 0)
    if need > have:
        return f"{pool.size} scoring actor(s) need {need:g} GPU(s) but the Ray cluster has {have:g}"
    return None


class HostActor:
    """A key-scoring actor started before the pipeline. An error setting the stage up is raised by `metadata`, so
    it reaches the driver as it was raised (a failed actor constructor reaches it only as 'actor died')."""

    def __init__(self, stage: ScoreStage, torch_threads: int, output: str):
        self.scorer, self.error = None, None
        try:
            self.scorer = KeyScorerActor(stage, torch_threads, output)
        except Exception as err:  # kept for `metadata` to raise
            self.error = err

    def metadata(self) -> dict:
        """The stage's run parameters (`ScoreStage.metadata`), computed where the actor runs."""
        if self.error is not None:
            raise self.error
        return self.scorer.stage.metadata()

    def score(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Score and store the distinct keys of `batch` (`KeyScorerActor.__call__`)."""
        return self.scorer(batch)


def describe_on_pool(stage: ScoreStage, pool: PoolOptions, gpu_wait: float, output: str) -> tuple[dict, object]:
    """The stage's run parameters, computed on the pool's first actor, and that actor (kill it when done).

    Without the GPUs the pool needs, fail at once, or after `gpu_wait` seconds for an autoscaler to add them.
    """
    missing = gpu_shortfall(pool, ray.cluster_resources())
    hint = "use --device cpu, or --gpu-wait SECONDS on an autoscaling cluster"
    if missing and gpu_wait <= 0:
        raise PlacementError(f"{missing} ({hint})")
    # restarted where it dies (a lost node); its calls are retried there
    host = ray.remote(HostActor).options(**pool.resources, max_restarts=-1, max_task_retries=-1).remote(
        stage, pool.torch_threads, output)
    try:
        return ray.get(host.metadata.remote(), timeout=gpu_wait if missing else None), host
    except ray.exceptions.GetTimeoutError:
        ray.kill(host)
        raise PlacementError(f"{missing}, still after {gpu_wait:g} s ({hint})") from None
    except ray.exceptions.RayTaskError as err:  # e.g. a model that cannot be loaded: report the cause
        ray.kill(host)
        raise err.cause from None
