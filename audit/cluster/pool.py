"""Size and resources of the scoring actor pool: one GPU per actor, or a fraction of a CPU without GPUs."""
from __future__ import annotations

from dataclasses import dataclass

import ray

CPU_ACTOR_CPUS = 0.5  # two whole-CPU actors on a 2-CPU node would leave no CPU for the read tasks
GPU_ACTOR_CPUS = 1.0


@dataclass(frozen=True)
class PoolOptions:
    """Number of actors, Ray resources of each, and torch threads inside each."""

    size: int
    resources: dict
    torch_threads: int


def actor_options(device: str, actors: int | None, actor_cpus: float | None) -> PoolOptions:
    """GPU actors when the device is cuda, or auto on a cluster with GPUs; default one actor per GPU, else one."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if device.startswith("cuda") or (device == "auto" and gpus > 0):
        cpus = actor_cpus or GPU_ACTOR_CPUS
        return PoolOptions(actors or max(1, gpus), {"num_gpus": 1, "num_cpus": cpus}, max(1, int(cpus)))
    cpus = actor_cpus or CPU_ACTOR_CPUS
    return PoolOptions(actors or 1, {"num_cpus": cpus}, max(1, int(cpus)))
