"""A scoring actor killed mid-run is restarted by Ray and its batch retried: the scan still has every row."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest
from builders import write_laion
from ray.util.state import list_actors

from audit.cli.main import main

ROWS = 120  # per file: enough batches left after the first file is written that the actor is still at work


def scorer_actors(ray_with_state_api: str) -> list:
    return [a for a in list_actors(address=ray_with_state_api, detail=True) if "ScorerActor" in a.class_name]


@pytest.mark.parametrize("extra, written_files", [(["--no-dedup"], "staging/*/parts/*.parquet"), ([], "key_scores/*.parquet")],
                         ids=["every-row", "dedup"])  # on the Ray Data pool, not the small scan's host actor
def test_killed_actor_is_restarted_and_every_row_scored(ray_with_state_api, tiny_eps, tmp_path, extra, written_files):
    """Every row is scored by ScorerActor (--no-dedup), each distinct key by KeyScorerActor (dedup)."""
    for k in range(6):
        write_laion(tmp_path / f"part-{k}.parquet", ROWS * k, ROWS)
    out, result = tmp_path / "out", {}
    earlier = {a.actor_id for a in scorer_actors(ray_with_state_api)}  # e.g. the other case's, on this module's Ray
    scan = threading.Thread(target=lambda: result.update(code=main(
        ["scan", str(tmp_path / "*.parquet"), "-o", str(out), "--model", str(tiny_eps), "--batch-size", "4",
         "--generations", "2", "--small-scan-rows", "0", *extra])))
    scan.start()
    deadline = time.monotonic() + 240
    while not (alive := [a for a in scorer_actors(ray_with_state_api) if a.state == "ALIVE" and a.actor_id not in earlier]) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    [victim] = alive
    while not (parts := list(out.glob(written_files))) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    written = sum(pq.read_metadata(p).num_rows for p in parts)
    assert scan.is_alive() and written < 6 * ROWS, "the actor must be killed mid-run"
    scan.join(300)
    assert result["code"] == 0
    [after] = [a for a in scorer_actors(ray_with_state_api) if a.actor_id == victim.actor_id]
    assert after.num_restarts >= 1
    report = pd.read_parquet(out / "report")
    assert len(report) == 6 * ROWS and sorted(report["row_id"]) == list(range(6 * ROWS))
    assert report["status"].value_counts().to_dict() == {"ok": 6 * (ROWS - 3), "empty": 12, "null": 6}
    assert json.loads((out / "summary.json").read_text())["complete"]
