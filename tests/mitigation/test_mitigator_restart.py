"""A mitigation actor killed mid-way is restarted by Ray and its batch retried: every flagged row gets a result."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ray.util.state import list_actors

from audit.cli.main import main
from audit.model.loader import DEFAULT_MODEL


@pytest.mark.slow
def test_killed_mitigation_actor_is_restarted_and_every_row_mitigated(ray_with_state_api, tmp_path):
    memorized = (Path(DEFAULT_MODEL) / "labels/memorized.txt").read_text().splitlines()[:12]
    pq.write_table(pa.table({"caption": memorized}), tmp_path / "in.parquet")
    run = tmp_path / "run"
    assert main(["scan", str(tmp_path / "in.parquet"), "-o", str(run), "--threshold", "0.3"]) == 0
    n_flagged = len(pd.read_parquet(run / "flagged.parquet"))
    result = {}
    job = threading.Thread(target=lambda: result.update(code=main(["mitigate", str(run), "--max-steps", "60",
                                                                  "--mitigation-actors", "1"])))
    job.start()
    deadline = time.monotonic() + 240
    victims = []
    while not victims and time.monotonic() < deadline:
        victims = [a for a in list_actors(address=ray_with_state_api, detail=True)
                   if "MitigatorActor" in a.class_name and a.state == "ALIVE"]
        time.sleep(0.2)
    while not list(run.glob("embeddings/*.safetensors")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victims[0].pid, signal.SIGKILL)
    assert job.is_alive() and len(list(run.glob("embeddings/*.safetensors"))) < n_flagged, "must be killed mid-way"
    job.join(300)
    assert result["code"] == 0
    [after] = [a for a in list_actors(address=ray_with_state_api, detail=True)
               if a.actor_id == victims[0].actor_id]
    assert after.num_restarts >= 1
    out = pd.read_parquet(run / "mitigations.parquet")
    assert sorted(out["row_id"]) == sorted(pd.read_parquet(run / "flagged.parquet")["row_id"])
    assert (out["status"] == "ok").all() and n_flagged == 12
