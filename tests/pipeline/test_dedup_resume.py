"""SIGKILL the scan's driver in each dedup phase (keying, scoring distinct captions, joining): the rerun keeps
the finished work of that phase and writes the report of an uninterrupted run."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import caption, files, kill_scan_after_first_marker

from audit.cli.main import main

FILES, ROWS, UNIT = 8, 40, 10


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """8 Parquet files of 40 rows in row groups of 10 (32 units); half the rows repeat captions of other files."""
    folder = tmp_path_factory.mktemp("resume_in")
    for k in range(FILES):
        texts = [caption(i % 25) if i % 2 else caption(1000 * k + i) for i in range(ROWS)]
        pq.write_table(pa.table({"TEXT": texts}), folder / f"part-{k}.parquet", row_group_size=UNIT)
    return folder


@pytest.fixture(scope="module")
def clean(local_ray, tiny_eps, inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "out"
    assert main(["scan", *args(tiny_eps, inputs), "-o", str(out)]) == 0
    return out


def args(model, inputs) -> list[str]:
    # the Ray Data steps: in the driver, a small scan would key and join faster than the kill can catch it
    return [str(inputs), "--model", str(model), "--batch-size", "1", "--unit-rows", str(UNIT), "--small-scan-rows", "0"]


def report(out) -> pd.DataFrame:
    return pd.read_parquet(out / "report").sort_values("row_id", ignore_index=True)


@pytest.mark.slow
@pytest.mark.parametrize("kind, suffix", [("keyed", ".json"), ("key_scores", ".parquet"), ("done", ".json")],
                         ids=["keying", "scoring", "joining"])
def test_killed_in_a_phase_resumes_to_the_same_report(local_ray, tiny_eps, inputs, clean, tmp_path, kind, suffix):
    out = tmp_path / "out"
    left = kill_scan_after_first_marker(args(tiny_eps, inputs), out, local_ray, tmp_path / "driver.log", kind, suffix)
    assert 1 <= len(left) < len(files(clean, kind, suffix)), f"the driver must be killed while {kind} is written"
    assert not (out / "summary.json").exists()

    assert main(["scan", *args(tiny_eps, inputs), "-o", str(out)]) == 0
    pd.testing.assert_frame_equal(report(out), report(clean))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["shards"]["finished"] == FILES * ROWS // UNIT
    now = files(out, kind, suffix)
    assert {name: now[name] for name in left} == left  # the phase's finished work was kept, not redone
    scored_now, distinct = summary["dedup"]["keys_scored_this_run"], summary["dedup"]["distinct_keys"]
    if kind == "key_scores":  # only the keys missing at the kill were scored
        assert scored_now == distinct - sum(len(pq.read_table(out / kind / name)) for name in left) > 0
    if kind == "done":  # every key was scored before the kill
        assert scored_now == 0
