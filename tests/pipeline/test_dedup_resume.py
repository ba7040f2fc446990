"""SIGKILL the scan's driver in each dedup phase in turn (keying, scoring distinct captions, joining), resuming
between kills as a preempted job does: each rerun keeps the finished work of the phases before, and the last
writes the report of an uninterrupted run."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import caption, files, kill_scan_after_first_marker

from audit.cli.main import main

FILES, ROWS, UNIT = 8, 40, 10
PHASES = [("keyed", ".json"), ("key_scores", ".parquet"), ("done", ".json")]  # what keying, scoring, joining write


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """8 Parquet files of 40 rows in row groups of 10 (32 units); half the rows repeat captions of other files."""
    folder = tmp_path_factory.mktemp("resume_in")
    for k in range(FILES):
        texts = [caption(i % 25) if i % 2 else caption(1000 * k + i) for i in range(ROWS)]
        pq.write_table(pa.table({"TEXT": texts}), folder / f"part-{k}.parquet", row_group_size=UNIT)
    return folder


def args(model, inputs, *extra: str) -> list[str]:
    return [str(inputs), "--model", str(model), "--batch-size", "1", "--unit-rows", str(UNIT), *extra]


# the Ray Data steps: in the driver, a small scan would key and join faster than the kill can catch it
ON_RAY_DATA = ("--small-scan-rows", "0")


def report(out) -> pd.DataFrame:
    return pd.read_parquet(out / "report").sort_values("row_id", ignore_index=True)


def assert_kept(out, kept: dict[str, dict[str, int]], by: str) -> None:
    """The files of each phase left at its kill (`kept`: kind -> name -> mtime) are still there, unchanged."""
    for kind, suffix in PHASES:
        now = files(out, kind, suffix)
        assert {name: now[name] for name in kept.get(kind, {})} == kept.get(kind, {}), f"{kind} redone by {by}"


def scored_keys(out) -> list[str]:
    """The caption keys of every key-score file, each as often as it was stored."""
    return [key for path in (out / "key_scores").glob("*.parquet")
            for key in pq.read_table(path, columns=["caption_key"])["caption_key"].to_pylist()]


@pytest.mark.slow
def test_killed_in_each_phase_resumes_to_the_same_report(local_ray, tiny_eps, inputs, tmp_path):
    clean = tmp_path / "clean"  # in the driver: the Ray Data steps must give the same report
    assert main(["scan", *args(tiny_eps, inputs), "-o", str(clean)]) == 0
    out, kept = tmp_path / "out", {}
    for kind, suffix in PHASES:
        left = kill_scan_after_first_marker(args(tiny_eps, inputs, *ON_RAY_DATA), out, local_ray,
                                            tmp_path / f"driver-{kind}.log", kind, suffix)
        assert 1 <= len(left) < len(files(clean, kind, suffix)), f"the driver must be killed while {kind} is written"
        assert not (out / "summary.json").exists()
        assert_kept(out, kept, f"the run killed in {kind}")  # the earlier phases' work was kept, not redone
        kept[kind] = left

    assert main(["scan", *args(tiny_eps, inputs), "-o", str(out)]) == 0  # in the driver, from what Ray Data left
    pd.testing.assert_frame_equal(report(out), report(clean))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["shards"]["finished"] == FILES * ROWS // UNIT
    assert_kept(out, kept, "the last run")
    keys = scored_keys(out)  # the run after the kill in scoring scored only the keys missing then
    assert len(keys) == len(set(keys)) == summary["dedup"]["distinct_keys"]
    assert summary["dedup"]["keys_scored_this_run"] == 0  # every key was scored before the kill in joining
