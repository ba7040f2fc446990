"""One local Ray per test process, shared by the test modules that ask for it (`local_ray`): starting Ray, its
workers and Ray Data's own actors costs seconds a module. Released before a test that starts its own Ray or
needs none, and at the end of the session."""
from __future__ import annotations

import time

import ray

_address: str | None = None


def shared() -> str:
    """The shared Ray's address, starting it (2 CPUs, no dashboard) if this process has none."""
    global _address
    if _address is None:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        _address = ray.get_runtime_context().gcs_address
    return _address


def release() -> None:
    """Stop the shared Ray, if it runs."""
    global _address
    if _address is not None:
        ray.shutdown()
        _address = None


def _idle() -> bool:
    total, free = ray.cluster_resources(), ray.available_resources()
    return all(free.get(name, 0) >= total[name] for name in ("CPU", "GPU") if name in total)


def wait_until_idle(timeout: float = 120) -> None:
    """Wait until no task or actor holds a CPU or GPU of this process's Ray: what ran before has ended."""
    deadline = time.monotonic() + timeout
    while not _idle():
        assert time.monotonic() < deadline, "a task or actor that should have ended still holds a CPU or GPU"
        time.sleep(0.2)
