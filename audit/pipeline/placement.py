"""Place the scoring stage on the actors' resources, or fail in one line when the cluster cannot host them.

A task asking for a GPU that no node has waits forever in Ray (it is "infeasible" until an autoscaler adds
a node), so a scan checks the cluster first and waits only as long as the user allows (`--gpu-wait`); an actor
that the cluster has the GPUs for but cannot place (a custom resource no node has, GPUs held by other work) is
the watchdog's to report.
The first actor of the pool (`HostActor`) gives the stage's run parameters and, on a small scan, scores it.
"""
from __future__ import annotations

import time

import ray

from audit.cluster.pool import PoolOptions
from audit.cluster.watchdog import Watchdog
from audit.pipeline.host import HostActor, RemoteHost
from audit.scoring.stage import ScoreStage

PLACING = "starting the first scoring actor"


class PlacementError(ValueError):
    """The Ray cluster lacks the resources of the scoring actors."""


def gpu_shortfall(pool: PoolOptions, cluster: dict) -> str | None:
    """Why `cluster` (Ray's resource totals) cannot hold the pool's first GPU actors now (all of a fixed pool,
    one of an elastic one); None when it can."""
    actors = pool.size if pool.fixed else 1
    need = pool.resources.get("num_gpus", 0) * actors
    have = cluster.get("GPU", 0)
    if need > have:
        return f"{actors} scoring actor(s) need {need:g} GPU(s) but the Ray cluster has {have:g}"
    return None


def _wait_interruptibly(ref, timeout: float | None) -> None:
    """ray.get(ref, timeout) in waits of a second: a Ctrl-C or the watchdog's interrupt is taken between them (one
    long get was seen to miss both, in a test worker started in the background)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not ray.wait([ref], timeout=1.0)[0]:
        if deadline is not None and time.monotonic() >= deadline:
            raise ray.exceptions.GetTimeoutError(f"not placed within {timeout:g} s")
    ray.get(ref)


def describe_on_pool(stage: ScoreStage, pool: PoolOptions, gpu_wait: float, output: str,
                     watchdog: Watchdog | None = None) -> tuple[dict, RemoteHost]:
    """The stage's run parameters, computed on the pool's first actor, and that actor (stop it when done).

    Without the GPUs the pool needs, fail at once, or after `gpu_wait` seconds for an autoscaler to add them;
    with them, `watchdog` watches the actor's placement (not its model loading).
    """
    missing = gpu_shortfall(pool, ray.cluster_resources())
    hint = "use --device cpu, or --gpu-wait SECONDS on an autoscaling cluster"
    if missing and gpu_wait <= 0:
        raise PlacementError(f"{missing} ({hint})")
    # restarted where it dies (a lost node); its calls are retried there
    host = ray.remote(HostActor).options(**pool.resources, max_restarts=-1, max_task_retries=-1).remote(
        stage, pool.torch_threads, output)
    try:
        if watchdog is not None and not missing:
            watchdog.watch(PLACING)
        _wait_interruptibly(host.placed.remote(), gpu_wait if missing else None)
        if watchdog is not None:
            watchdog.rest()
        return ray.get(host.metadata.remote()), RemoteHost(host)
    except ray.exceptions.GetTimeoutError:
        ray.kill(host)
        raise PlacementError(f"{missing}, still after {gpu_wait:g} s ({hint})") from None
    except ray.exceptions.RayTaskError as err:  # e.g. a model that cannot be loaded: report the cause
        ray.kill(host)
        raise err.cause from None
    except BaseException:  # Ctrl-C, or the watchdog
        ray.kill(host)
        raise
