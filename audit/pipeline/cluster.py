"""Connect to Ray: reuse this process's connection, join a cluster, or start a private local instance."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import ray


@contextmanager
def connected(address: str | None) -> Iterator[None]:
    """Join `address` (or RAY_ADDRESS) if set, else start a private local Ray (dashboard off); disconnect after."""
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()

