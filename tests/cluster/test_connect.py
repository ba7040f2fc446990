"""The embedded local Ray listens on loopback only and never joins another cluster on the machine."""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import ray

from audit.cluster.connect import connected


def test_private_local_ray_is_on_loopback(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with connected(None):
        assert [n["NodeManagerAddress"] for n in ray.nodes()] == ["127.0.0.1"]
        assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert not ray.is_initialized()


def _stop_processes_under(folder: str) -> None:
    """Kill the processes whose command line names `folder` (the Ray processes a test's `ray start` began)."""
    for process in psutil.process_iter(["cmdline"]):
        if any(folder in part for part in process.info["cmdline"] or []):
            with contextlib.suppress(psutil.Error):
                process.kill()


@pytest.mark.slow
def test_a_plain_scan_never_joins_a_cluster_started_on_the_machine(tiny_eps, tmp_path):
    """With a `ray start --head` cluster whose address file a plain `ray.init()` would read (its RAY_TMPDIR), a scan
    without --address that needs Ray (--actors: a pool asked for; its one actor scores every row, --no-dedup) starts
    its own: the other cluster's session sees no driver."""
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths live under it
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": temp}
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", "--port", "0", "--num-cpus", "1",
                             "--include-dashboard", "false", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        address_file = Path(temp) / "ray" / "ray_current_cluster"
        deadline = time.monotonic() + 120
        while not address_file.exists():
            assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.2)
        session = (Path(temp) / "ray" / "session_latest").resolve()
        (tmp_path / "in.txt").write_text("a red cat\na blue house\n")
        scan = subprocess.run([sys.executable, "-m", "audit", "scan", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out"),
                               "--model", str(tiny_eps), "--actors", "1", "--no-dedup"], env=env, capture_output=True, text=True,
                              timeout=600)
        assert scan.returncode == 0, scan.stderr
        log = (tmp_path / "out" / "logs" / "scan.log").read_text()
        assert "Started a local Ray instance" in log and "Connecting to existing Ray cluster" not in log
        assert "the model that described it scores every row" in log  # a small scan: no Ray Data pipeline, no second actor
        assert not list((session / "logs").glob("python-core-driver-*")), "the scan joined the other cluster"
    finally:
        head.terminate()
        head.wait(timeout=60)
        _stop_processes_under(temp)
        shutil.rmtree(temp, ignore_errors=True)
