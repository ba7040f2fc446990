"""Place the scoring stage on the actors' resources, or fail in one line when the cluster cannot host them.

A task asking for a GPU that no node has waits forever in Ray (it is "infeasible" until an autoscaler adds
a node), so a scan checks the cluster first and waits only as long as the user allows (`--gpu-wait`).
"""
from __future__ import annotations

import ray

from audit.cluster.pool import PoolOptions
from audit.pipeline.actors import describe_stage
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


def describe_on_pool(stage: ScoreStage, pool: PoolOptions, gpu_wait: float) -> dict:
    """`ScoreStage.metadata()` computed by a task with the actors' resources (the driver may lack a GPU).

    Without the GPUs the pool needs, fail at once, or after `gpu_wait` seconds for an autoscaler to add them.
    """
    missing = gpu_shortfall(pool, ray.cluster_resources())
    hint = "use --device cpu, or --gpu-wait SECONDS on an autoscaling cluster"
    if missing and gpu_wait <= 0:
        raise PlacementError(f"{missing} ({hint})")
    ref = ray.remote(describe_stage).options(**pool.resources).remote(stage)
    try:
        return ray.get(ref, timeout=gpu_wait if missing else None)
    except ray.exceptions.GetTimeoutError:
        ray.cancel(ref, force=True)
        raise PlacementError(f"{missing}, still after {gpu_wait:g} s ({hint})") from None
    except ray.exceptions.RayTaskError as err:  # e.g. a model that cannot be loaded: report the cause
        raise err.cause from None
