"""Connect to Ray: reuse this process's connection, join a cluster, or start a private local instance."""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

import ray


@contextmanager
def connected(address: str | None) -> Iterator[None]:
    """Join `address` (or RAY_ADDRESS) if set, else start a private local Ray on 127.0.0.1 (dashboard off);
    disconnect after."""
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    on_sigterm = signal.getsignal(signal.SIGTERM)
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # a private instance listens on loopback only: nothing of it is reachable from the network
        ray.init(address="local", include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    if on_sigterm is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)  # ray.init sets its own (sys.exit), unlike Ctrl-C
    try:
        yield
    finally:
        ray.shutdown()

