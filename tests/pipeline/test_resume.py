"""Kill the scan's driver (SIGKILL) after some shards finished; the rerun skips them and equals a clean run.

These runs score every row (--no-dedup): the kills land between finished shards. test_dedup_resume kills a
deduplicated scan in each of its steps."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from builders import kill_scan_after_first_marker, markers, write_laion

from audit.cli.main import main

SHARDS, ROWS = 8, 30


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(SHARDS):
        write_laion(folder / f"part-{k:05d}.parquet", ROWS * k, ROWS)
    return folder


def test_killed_driver_resumes_to_the_same_report(local_ray, tiny_eps, inputs, tmp_path):
    args = [str(inputs), "--model", str(tiny_eps), "--batch-size", "4", "--no-dedup"]
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    assert main(["scan", *args, "-o", str(clean)]) == 0

    before = kill_scan_after_first_marker(args, resumed, local_ray, tmp_path / "driver.log")
    assert 1 <= len(before) < SHARDS, "the driver must be killed mid-run"
    assert not (resumed / "summary.json").exists()

    assert main(["scan", *args, "-o", str(resumed)]) == 0
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["shards"]["resumed"] == len(before) and summary["complete"]
    assert summary["timing"]["rows_this_run"] == ROWS * (SHARDS - len(before))
    assert {k: v for k, v in markers(resumed).items() if k in before} == before  # finished shards untouched
    got, want = (pd.read_parquet(d / "report").sort_values("row_id", ignore_index=True) for d in (clean, resumed))
    assert len(got) == ROWS * SHARDS
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6)
    assert got["rank"].equals(want["rank"])


def test_sigterm_stops_like_ctrl_c_and_the_rerun_resumes(local_ray, tiny_eps, inputs, tmp_path):
    """SIGTERM (what schedulers and `kill` send) unwinds like Ctrl-C: one line, exit 130, a resumable folder."""
    args = [str(inputs), "--model", str(tiny_eps), "--batch-size", "4", "--no-dedup", "-o", str(tmp_path / "out")]
    driver = subprocess.Popen([sys.executable, "-m", "audit", "scan", *args, "--address", local_ray],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=os.environ | {"AUDIT_TORCH_THREADS": "1"})
    try:
        deadline = time.monotonic() + 240
        while not markers(tmp_path / "out") and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr[-2000:]
    assert stderr.rstrip().endswith("interrupted") and "Traceback" not in stderr
    assert not (tmp_path / "out" / "summary.json").exists()
    time.sleep(2)  # let Ray end the stopped driver's tasks and actors
    before = markers(tmp_path / "out")

    assert main(["scan", *args]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["shards"]["resumed"] == len(before) >= 1 and summary["complete"]
    report = pd.read_parquet(tmp_path / "out" / "report")
    assert sorted(report["row_id"]) == list(range(ROWS * SHARDS))
