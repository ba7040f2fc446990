"""Whether a pool of actors would be a single actor on this very machine: then the work runs in this process and
Ray is never started (its start, an actor's process and its imports cost more than a small job)."""
from __future__ import annotations

import os

import ray


def one_actor_here(address: str | None, device: str, actors: int | None, max_actors: int | None = None) -> bool:
    """True when no pool size is asked, no cluster is named (`address`), and either this process's Ray has no GPUs
    for the pool (`device` cpu, or auto on a cluster without GPUs) or, with no Ray connection and no RAY_ADDRESS,
    this machine has at most one GPU."""
    if actors is not None or max_actors is not None or address:
        return False
    if ray.is_initialized():
        return device == "cpu" or (device == "auto" and not ray.cluster_resources().get("GPU"))
    if os.environ.get("RAY_ADDRESS"):
        return False
    if device == "cpu":
        return True
    import torch

    return torch.cuda.device_count() <= 1
