"""Size and resources of the scoring actor pool: one GPU per actor, or a fraction of a CPU without GPUs.

A pool is elastic unless `--actors` fixes its size: Ray Data starts it with one actor per GPU present (at
least one), adds actors as GPU nodes join while it has work queued, up to its maximum, and goes on with the
actors left when nodes leave.
"""
from __future__ import annotations

from dataclasses import dataclass

import ray
from ray.data import ActorPoolStrategy

# Fractions of a CPU, so the read, keying and write tasks always find a CPU next to the actors: two 1-CPU GPU
# actors on a node with 2 CPUs (`ray start --num-cpus 2 --num-gpus 2`) left none, and the scan waited forever.
CPU_ACTOR_CPUS = 0.5
GPU_ACTOR_CPUS = 0.5


@dataclass(frozen=True)
class PoolOptions:
    """Actors started at first (`size`), the most the pool may grow to (`max_size`, equal to `size` for a fixed
    pool), Ray resources of each actor, and torch threads inside each."""

    size: int
    resources: dict
    torch_threads: int
    max_size: int | None = None

    @property
    def most(self) -> int:
        return self.max_size or self.size

    @property
    def fixed(self) -> bool:
        return self.max_size is None

    def strategy(self) -> ActorPoolStrategy:
        """Ray Data's actor pool: fixed, or from one actor up to `max_size`, starting with `size`."""
        if self.fixed:
            return ActorPoolStrategy(size=self.size)
        return ActorPoolStrategy(min_size=1, max_size=self.most, initial_size=self.size)

    def asks(self) -> dict:
        """What one actor asks of a node, named as Ray's resources."""
        r = self.resources
        return {"CPU": r.get("num_cpus", 0), "GPU": r.get("num_gpus", 0), **r.get("resources", {})}

    def describe(self) -> dict:
        """The pool as summary.json records it."""
        return {"actors": self.size, "max_actors": self.most, "elastic": not self.fixed, **self.resources}


def actor_options(device: str, actors: int | None, actor_cpus: float | None, max_actors: int | None = None
                  ) -> PoolOptions:
    """GPU actors when the device is cuda, or auto on a cluster with GPUs: `actors` fixed, else elastic from one
    per GPU present up to `max_actors` (default: the GPUs present); without GPUs one actor (up to `max_actors`)."""
    if actors is not None and max_actors is not None:
        raise ValueError("give --actors (a fixed pool) or --max-actors (an elastic one), not both")
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if device.startswith("cuda") or (device == "auto" and gpus > 0):
        cpus = actor_cpus or GPU_ACTOR_CPUS
        resources = {"num_gpus": 1, "num_cpus": cpus}
        start, most = max(1, gpus), max_actors or max(1, gpus)
    else:
        cpus = actor_cpus or CPU_ACTOR_CPUS
        resources = {"num_cpus": cpus}
        start, most = 1, max_actors or 1
    threads = max(1, int(cpus))
    if actors is not None:
        return PoolOptions(actors, resources, threads)
    return PoolOptions(min(start, most), resources, threads, most)
