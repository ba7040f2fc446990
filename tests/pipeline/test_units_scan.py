"""Units inside a Parquet file: same report as one unit per file, and a killed run keeps its finished units."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from builders import files, kill_scan_after_first_marker, markers, write_laion

from audit.cli.main import main

UNITS, ROWS = 8, 30


@pytest.fixture(scope="module")
def one_file(tmp_path_factory):
    """One LAION Parquet file of 8 row groups of 30 rows (with null and empty captions)."""
    folder = tmp_path_factory.mktemp("units-in")
    write_laion(folder / "part-00000.parquet", 0, UNITS * ROWS, row_group_size=ROWS)
    return folder / "part-00000.parquet"


@pytest.fixture(scope="module")
def whole(local_ray, tiny_eps, one_file, tmp_path_factory):
    """The report of the same file scanned as one unit."""
    out = tmp_path_factory.mktemp("units-whole") / "run"
    assert main(["scan", str(one_file), "-o", str(out), "--model", str(tiny_eps), "--batch-size", "4",
                 "--unit-rows", "1000000"]) == 0
    assert len(markers(out)) == 1
    return pd.read_parquet(out / "report")


def test_row_groups_become_units_and_the_report_is_the_same(local_ray, tiny_eps, one_file, whole, tmp_path):
    out = tmp_path / "run"
    assert main(["scan", str(one_file), "-o", str(out), "--model", str(tiny_eps), "--batch-size", "4",
                 "--unit-rows", str(2 * ROWS)]) == 0
    assert len(markers(out)) == UNITS // 2
    pd.testing.assert_frame_equal(pd.read_parquet(out / "report"), whole)  # row for row, bit for bit


def test_killed_driver_keeps_the_finished_units_of_a_file(local_ray, tiny_eps, one_file, whole, tmp_path):
    args = [str(one_file), "--model", str(tiny_eps), "--batch-size", "4", "--unit-rows", str(ROWS)]
    out = tmp_path / "run"
    before = kill_scan_after_first_marker(args, out, local_ray, tmp_path / "driver.log", kind="keyed")
    assert 1 <= len(before) < UNITS, "the driver must be killed while units of the file remain to be read"
    assert main(["scan", *args, "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shards"]["resumed"] == len(before)
    assert summary["timing"]["rows_this_run"] == ROWS * (UNITS - len(before))  # the finished units not read again
    assert {k: v for k, v in files(out, "keyed").items() if k in before} == before
    pd.testing.assert_frame_equal(pd.read_parquet(out / "report"), whole)


@pytest.mark.parametrize("kind", ["txt", "jsonl"])
def test_text_files_are_split_into_runs_of_lines(local_ray, tiny_eps, tmp_path, kind):
    lines = [f"caption {i % 37}" if i % 11 else "" for i in range(130)]
    path = tmp_path / f"c.{kind}"
    body = lines if kind == "txt" else [json.dumps({"caption": t, "k": i}) if t else "" for i, t in enumerate(lines)]
    path.write_text("\n".join(body))  # no final line feed
    reports = []
    for unit_rows in (40, 1000):
        out = tmp_path / f"run-{unit_rows}"
        assert main(["scan", str(path), "-o", str(out), "--model", str(tiny_eps), "--batch-size", "4",
                     "--unit-rows", str(unit_rows)]) == 0
        assert len(markers(out)) == (4 if unit_rows == 40 else 1)
        reports.append(pd.read_parquet(out / "report"))
    assert len(reports[0]) == 130 and sorted(reports[0]["row_index"]) == list(range(130))
    pd.testing.assert_frame_equal(*reports)
