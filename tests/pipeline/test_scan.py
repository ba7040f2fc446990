"""End-to-end `scan` runs on a local Ray: row accounting, ranking, failed shards, parameter checks."""
from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from audit.cli.main import main


def scan(model, inputs, out, *extra) -> int:
    return main(["scan", *map(str, inputs), "--output", str(out), "--model", str(model), "--batch-size", "8", *extra])


def test_every_row_once_with_status_and_global_rank(local_ray, tiny_eps, shards, tmp_path):
    t = time.time()
    assert scan(tiny_eps, [shards], tmp_path / "out", "--rows-per-file", "40", "--top-k", "10") == 0
    print("scan", time.time() - t)
    report = pd.read_parquet(tmp_path / "out" / "report")
    assert len(report) == 3 * 50 + 20
    assert sorted(report["row_id"]) == list(range(170))
    assert report.groupby("source")["row_index"].apply(sorted).map(len).to_dict() == \
        {str(shards / f"part-{k:05d}.parquet"): 50 for k in range(3)} | {str(shards / "images-00000.tar"): 20}
    assert len(list((tmp_path / "out" / "report").glob("*.parquet"))) > 1
    scored = report[report["status"] == "ok"]
    assert scored["rank"].tolist() == list(range(1, len(scored) + 1))
    assert np.all(np.diff(scored["score"].to_numpy()) <= 0)
    assert report["rank"].iloc[: len(scored)].notna().all() and report["rank"].iloc[len(scored):].isna().all()
    counts = report["status"].value_counts().to_dict()
    assert counts == {"ok": 3 * 47 + 18, "null": 3, "empty": 6, "invalid_utf8": 1, "missing_caption": 1}
    tar_rows = report[report["source"].str.endswith(".tar")].set_index("key")
    assert tar_rows.loc["000001001", "status"] == "invalid_utf8" and tar_rows.loc["000001000", "url"] == "u1000"
    flagged = pd.read_parquet(tmp_path / "out" / "flagged.parquet")
    assert flagged["rank"].tolist() == list(range(1, 11)) and report["flagged"].sum() == 10
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rows_read"] == 170 and summary["rows_scored"] == len(scored) and summary["complete"]
    assert summary["rows_not_scored"] == {k: v for k, v in counts.items() if k != "ok"}
