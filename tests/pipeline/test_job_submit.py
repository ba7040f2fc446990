"""`ray job submit` of jobs/audit_job.py to a real `ray start --head` cluster, stopped afterwards by PID."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import psutil
import pytest
from builders import write_laion

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_head(head: subprocess.Popen, temp_dir: str) -> None:
    """End the `ray start --block` process group, then any process still naming our temp dir (ours only)."""
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(temp_dir in part for part in proc.info["cmdline"] or []):
            proc.kill()


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    try:
        with direct.open(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until_ready(dashboard: str, agent: str, env: dict, timeout: float = 120) -> None:
    """Wait for the job server (`ray job list` answers) and for the head node's job agent, which starts later:
    until its HTTP server answers, a submission fails with "No available agent to submit job". The agent
    registers itself right after its server starts, and the job server waits up to 10 s for that."""
    deadline = time.monotonic() + timeout
    while subprocess.run([RAY, "job", "list", "--address", dashboard], env=env, capture_output=True).returncode \
            or not answers(f"{agent}/api/healthz"):
        assert time.monotonic() < deadline, "the head's job server or job agent did not come up"
        time.sleep(1)


@pytest.fixture
def ray_head():
    """A one-node cluster from `ray start --head` with its own temp dir, ready to take jobs; yields the dashboard
    address and the environment."""
    temp_dir = tempfile.mkdtemp(prefix="rayt-", dir="/tmp")  # short: Ray's socket paths live under it
    dashboard, agent = free_port(), free_port()
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "AUDIT_TORCH_THREADS": "1",
                        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    head = subprocess.Popen([RAY, "start", "--head", "--block", "--port", str(free_port()), "--node-ip-address",
                             "127.0.0.1", "--num-cpus", "2", "--temp-dir", temp_dir, "--include-dashboard", "true",
                             "--dashboard-port", str(dashboard), "--dashboard-agent-listen-port", str(agent)],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_ready(f"http://127.0.0.1:{dashboard}", f"http://127.0.0.1:{agent}", env)
        yield f"http://127.0.0.1:{dashboard}", env
    finally:
        stop_head(head, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_job_submit_runs_the_scan_on_the_cluster(ray_head, tiny_eps, tmp_path):
    address, env = ray_head
    for k in range(2):
        write_laion(tmp_path / f"part-{k}.parquet", 30 * k, 30)
    out = tmp_path / "out"
    submit = [RAY, "job", "submit", "--address", address, "--working-dir", str(REPO), "--",
              "python", "jobs/audit_job.py", str(tmp_path / "*.parquet"), "-o", str(out), "--model", str(tiny_eps),
              "--batch-size", "8", "--top-k", "5"]
    done = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["rows_read"] == 60 and summary["flagged"] == 5
    assert len(pd.read_parquet(out / "report")) == 60
