"""Kill the scan's driver (SIGKILL), then stop it (SIGTERM), after some shards finished each time; the reruns skip
them and the last equals a clean run.

These runs score every row (--no-dedup) on Ray Data's pipeline: the kills land between finished shards. The clean run
reads, scores and writes in this process (a small scan), so the test also checks that both give the same report.
test_dedup_resume kills a deduplicated scan in each of its steps."""
from __future__ import annotations

import json
import signal

import pandas as pd
import pytest
from builders import kill_scan_after_first_marker, markers, stop_scan, write_laion

from audit.cli.main import main

SHARDS, ROWS = 8, 30


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(SHARDS):
        write_laion(folder / f"part-{k:05d}.parquet", ROWS * k, ROWS)
    return folder


def test_killed_then_stopped_driver_resumes_to_the_same_report(local_ray, tiny_eps, inputs, tmp_path):
    """SIGKILL, then SIGTERM (what schedulers and `kill` send; it unwinds like Ctrl-C: one line, exit 130): each
    rerun keeps the shards finished before, and the last report equals that of a clean run."""
    args = [str(inputs), "--model", str(tiny_eps), "--batch-size", "4", "--no-dedup"]
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    assert main(["scan", *args, "-o", str(clean)]) == 0
    assert json.loads((clean / "summary.json").read_text())["pool"]["in_driver"]
    args += ["--small-scan-rows", "0"]  # Ray Data's pipeline, not the small scan's: the parameters stay the same

    killed = kill_scan_after_first_marker(args, resumed, local_ray, tmp_path / "driver.log")
    assert 1 <= len(killed) < SHARDS, "the driver must be killed mid-run"
    assert not (resumed / "summary.json").exists()

    log = tmp_path / "stopped.log"
    code = stop_scan(args, resumed, local_ray, log, until=lambda: len(markers(resumed)) > len(killed), sig=signal.SIGTERM)
    stderr = log.read_text()
    assert code == 130, stderr[-2000:]
    assert stderr.rstrip().endswith("interrupted") and "Traceback" not in stderr
    assert not (resumed / "summary.json").exists()
    stopped = markers(resumed)
    assert {k: v for k, v in stopped.items() if k in killed} == killed  # the killed run's shards untouched
    # stopped mid-run (exit 130, not 0), after a shard of its own; the shards it had in flight may still finish
    assert len(killed) < len(stopped) <= SHARDS

    assert main(["scan", *args, "-o", str(resumed)]) == 0
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["shards"]["resumed"] == len(stopped) and summary["complete"]
    assert summary["timing"]["rows_this_run"] == ROWS * (SHARDS - len(stopped))
    assert {k: v for k, v in markers(resumed).items() if k in stopped} == stopped  # finished shards untouched
    got, want = (pd.read_parquet(d / "report").sort_values("row_id", ignore_index=True) for d in (clean, resumed))
    assert len(got) == ROWS * SHARDS
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6)
    assert got["rank"].equals(want["rank"])
