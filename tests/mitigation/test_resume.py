"""A mitigation killed mid-way and rerun: finished batches kept, every flagged row one result, as if never killed."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors.torch import load_file

from audit.cli.main import main
from audit.model.loader import DEFAULT_MODEL

CANARY = Path(DEFAULT_MODEL)
OPTIONS = ["--mitigation-batch-size", "2", "--max-steps", "30"]
TIMINGS = ["seconds_triggers", "seconds_rewrite", "seconds_embedding"]


def batch_files(run: Path) -> dict[str, int]:
    """Finished batch files and their modification times."""
    return {p.name: p.stat().st_mtime_ns for p in run.glob("mitigation/*/batch-*.parquet")}


@pytest.mark.slow
def test_killed_mitigation_resumes_its_unfinished_batches_only(tmp_path):
    memorized = (CANARY / "labels/memorized.txt").read_text().splitlines()[:10]
    clean = (CANARY / "labels/clean.txt").read_text().splitlines()[:4]
    pq.write_table(pa.table({"caption": memorized + clean}), tmp_path / "in.parquet")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(["scan", str(tmp_path / "in.parquet"), "-o", str(whole)]) == 0
    shutil.copytree(whole, killed)
    assert main(["mitigate", str(whole), *OPTIONS]) == 0
    n_batches = len(batch_files(whole))
    assert n_batches >= 4

    env = os.environ | {"PYTHONPATH": str(Path.cwd()), "AUDIT_TORCH_THREADS": "1"}
    job = subprocess.Popen([sys.executable, "-m", "audit", "mitigate", str(killed), *OPTIONS], env=env,
                           start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not batch_files(killed) and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.02)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the driver, its local Ray and the actors: its own process group
        job.wait()
    kept = batch_files(killed)
    assert 1 <= len(kept) < n_batches and not (killed / "mitigations.parquet").exists(), "must be killed mid-way"

    assert main(["mitigate", str(killed), *OPTIONS]) == 0
    assert {k: v for k, v in batch_files(killed).items() if k in kept} == kept  # finished batches were not redone
    summary = json.loads((killed / "summary.json").read_text())["mitigation"]
    assert summary["batches_reused"] == len(kept) and len(batch_files(killed)) == n_batches
    got, want = pd.read_parquet(killed / "mitigations.parquet"), pd.read_parquet(whole / "mitigations.parquet")
    flagged = pd.read_parquet(killed / "flagged.parquet")
    assert got["row_id"].tolist() == flagged["row_id"].tolist() and got["rank"].tolist() == flagged["rank"].tolist()
    pd.testing.assert_frame_equal(got.drop(columns=TIMINGS), want.drop(columns=TIMINGS))
    for f in got["embedding_file"]:
        assert (load_file(killed / f)["prompt_embeds"] == load_file(whole / f)["prompt_embeds"]).all()
