"""A run folder never mixes stale results: changed inputs and models, foreign and busy folders, row identity."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess

import pandas as pd
import pytest

from audit.cli.main import main
from audit.pipeline.options import ScanOptions
from audit.pipeline.run import run_scan
from audit.readers.inputs import expand_inputs
from audit.scoring.engine import ScoreConfig
from audit.scoring.stage import ScoreStage
from tests.conftest import build_tiny_pipeline


def scan(model, out, *inputs, extra=()) -> int:
    return main(["scan", *map(str, inputs), "-o", str(out), "--model", str(model), "--batch-size", "8", *extra])


def summary_of(out) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_edited_input_is_rescored_and_vanished_input_fails(local_ray, tiny_eps, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a red cat\na blue dog\n")
    b.write_text("a green kite\n")
    out = tmp_path / "run"
    assert scan(tiny_eps, out, a, b) == 0
    a.write_text("a red cat\na blue dog\na yellow boat\nan old tree\n")  # edited after it was scored
    assert scan(tiny_eps, out, a, b) == 0
    report = pd.read_parquet(out / "report")
    assert len(report) == 5 and "an old tree" in set(report["caption"])
    assert summary_of(out)["shards"]["rescored_changed"] == [str(a)] and summary_of(out)["shards"]["resumed"] == 1
    c = tmp_path / "c.txt"
    c.write_text("a grey owl\n")
    expanded = expand_inputs([str(a), str(b), str(c)])
    c.unlink()  # vanishes after the inputs were checked, before it is read: a failed shard
    stage = ScoreStage(model=str(tiny_eps), config=ScoreConfig(batch_size=8))
    summary = run_scan(ScanOptions(inputs=[str(a), str(b), str(c)], output=str(out), stage=stage, expanded=expanded))
    assert [f["source"] for f in summary["shards"]["failed"]] == [str(c)] and not summary["complete"]
    assert summary["rows_read"] == 5 and set(pd.read_parquet(out / "report")["source"]) == {str(a), str(b)}
    b.unlink()  # deleted, then named again: refused before the scan starts, the folder left as it was
    assert scan(tiny_eps, out, a, b) == 2 and summary_of(out) == summary


def test_other_inputs_say_which_rows_left_the_report(local_ray, tiny_eps, tmp_path, capsys):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a red cat\na blue dog\n")
    b.write_text("a green kite\nan old tree\na yellow boat\n")
    out = tmp_path / "run"
    assert scan(tiny_eps, out, a, b, extra=["--top-k", "1"]) == 0
    capsys.readouterr()
    assert scan(tiny_eps, out, a, extra=["--top-k", "1"]) == 0
    line = ("earlier:  1 input of an earlier scan of this folder (3 rows) is not among these inputs: its rows left "
            "the report")
    assert line in capsys.readouterr().err.splitlines()
    assert summary_of(out)["left_report"] == {"inputs": 1, "rows": 3} and summary_of(out)["rows_read"] == 2
    assert main(["check", str(out), "--max-flagged", "1"]) == 0  # the folder's markers agree with its report
    assert scan(tiny_eps, out, a, extra=["--top-k", "1"]) == 0
    assert "earlier:" not in capsys.readouterr().err and summary_of(out)["left_report"] == {"inputs": 0, "rows": 0}


def test_a_folder_whose_runs_scored_nothing_takes_other_parameters(local_ray, tiny_eps, tmp_path, capsys):
    given = tmp_path / "in.jsonl"
    given.write_text('{"caption": "a red cat"}\n{"caption": "a blue dog"}\n')
    out = tmp_path / "run"
    assert scan(tiny_eps, out, given, extra=["--caption-column", "TXT"]) == 3  # its one shard fails: no field TXT
    assert scan(tiny_eps, out, given) == 0  # the corrected command, into the same folder
    assert summary_of(out)["rows_scored"] == 2
    capsys.readouterr()
    assert scan(tiny_eps, out, given, extra=["--caption-column", "TXT"]) == 2  # now it holds scores: refused
    assert "other score parameters (caption_column None -> 'TXT')" in capsys.readouterr().err


def test_replaced_weights_under_the_same_path_refuse_a_resume(local_ray, tmp_path):
    model = build_tiny_pipeline(tmp_path / "model", seed=0)
    (tmp_path / "in.txt").write_text("a red cat\n")
    out = tmp_path / "run"
    assert scan(model, out, tmp_path / "in.txt") == 0
    other = build_tiny_pipeline(tmp_path / "other", seed=5)  # same shapes and sizes, other weights
    shutil.copy(other / "unet" / "diffusion_pytorch_model.safetensors", model / "unet")
    with pytest.raises(ValueError, match="model_fingerprint"):
        main(["-v", "scan", str(tmp_path / "in.txt"), "-o", str(out), "--model", str(model)])


def test_foreign_folder_is_refused_and_left_untouched(local_ray, tiny_eps, tmp_path, capsys):
    theirs = tmp_path / "theirs"
    (theirs / "report").mkdir(parents=True)
    (theirs / "report" / "q3.parquet").write_bytes(b"their data")
    (theirs / "report.html").write_text("their page")
    before = sorted(p.relative_to(theirs) for p in theirs.rglob("*"))
    (tmp_path / "in.txt").write_text("a red cat\n")
    assert scan(tiny_eps, theirs, tmp_path / "in.txt") == 2
    err = capsys.readouterr().err
    assert "not empty and not an audit run folder" in err and err.count("error:") == 1
    assert sorted(p.relative_to(theirs) for p in theirs.rglob("*")) == before
    assert (theirs / "report.html").read_text() == "their page"


def test_output_folder_inside_the_input_folder_is_not_read_back(local_ray, tiny_eps, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("a red cat\na blue dog\n")
    out = data / "audit-run"
    assert scan(tiny_eps, out, data) == 0
    assert scan(tiny_eps, out, data) == 0  # its report/, flagged.parquet and scores/ are now under data/
    summary = summary_of(out)
    assert summary["shards"]["total"] == 1 and summary["rows_read"] == 2


def test_a_second_scan_refuses_a_busy_folder_and_takes_over_a_stale_lock(local_ray, tiny_eps, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a red cat\n")
    out = tmp_path / "run"
    assert scan(tiny_eps, out, tmp_path / "in.txt") == 0
    owner = subprocess.Popen(["sleep", "60"])  # a live process on this host holds the lock
    try:
        lock = {"host": socket.gethostname(), "pid": owner.pid, "command": "scan", "since": "now"}
        (out / "run.lock").write_text(json.dumps(lock))
        (out / "staging" / "x").mkdir(parents=True)  # the first run's work in progress
        assert scan(tiny_eps, out, tmp_path / "in.txt") == 2
        assert f"in use by scan (process {owner.pid}" in capsys.readouterr().err
        assert (out / "staging" / "x").is_dir() and (out / "run.lock").exists()
    finally:
        owner.kill()
        owner.wait()
    assert not _alive(owner.pid)
    assert scan(tiny_eps, out, tmp_path / "in.txt") == 0  # the owner died: its lock is stale
    assert not (out / "run.lock").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_row_ids_do_not_depend_on_input_order_and_stale_mitigations_go(local_ray, tiny_eps, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a red cat\na blue dog\n")
    b.write_text("a green kite\nan old tree\na yellow boat\n")
    assert scan(tiny_eps, tmp_path / "ab", a, b) == 0 and scan(tiny_eps, tmp_path / "ba", b, a) == 0
    ids = [pd.read_parquet(tmp_path / run / "report").set_index(["source", "row_index"])["row_id"].sort_index()
           for run in ("ab", "ba")]
    assert ids[0].to_dict() == ids[1].to_dict()
    run = tmp_path / "ab"
    (run / "mitigations.parquet").write_bytes(b"from this report")
    (run / "embeddings").mkdir()
    assert scan(tiny_eps, run, a, b) == 0  # the same report again: its mitigation outputs stay
    assert (run / "mitigations.parquet").exists() and (run / "embeddings").is_dir()
    b.write_text("a green kite\n")
    assert scan(tiny_eps, run, a, b) == 0  # other rows now: outputs derived from the old report must go
    assert not (run / "mitigations.parquet").exists() and not (run / "embeddings").exists()


def test_mitigate_refuses_a_folder_a_scan_is_using(local_ray, tiny_eps, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("a red cat\n")
    out = tmp_path / "run"
    assert scan(tiny_eps, out, tmp_path / "in.txt", extra=["--top-k", "1"]) == 0
    owner = subprocess.Popen(["sleep", "60"])
    try:
        (out / "run.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": owner.pid, "command": "scan",
                                                  "since": "now"}))
        assert main(["mitigate", str(out), "--max-steps", "1"]) == 2
        assert "in use by scan" in capsys.readouterr().err and not (out / "mitigations.parquet").exists()
    finally:
        owner.kill()
        owner.wait()
