"""A run folder never mixes stale results: changed inputs and models, foreign and busy folders, row identity."""
from __future__ import annotations

import json
import os
import socket
import subprocess

import numpy as np
import pandas as pd

import audit.cli.scan as scan_cli
import audit.pipeline.run as run_module
from audit.cli.main import main
from audit.pipeline.options import ScanOptions
from audit.pipeline.run import run_scan
from audit.readers.inputs import expand_inputs
from audit.scoring.engine import ScoreConfig
from audit.scoring.stage import ScoreStage
from tests.conftest import build_tiny_pipeline
from tests.permissions import permissions_enforced
from tests.weights import rewrite_keeping_mtime, tensor_spans


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


def test_a_changed_tensor_under_the_same_path_and_mtime_refuses_a_resume(local_ray, tmp_path, capsys):
    model = build_tiny_pipeline(tmp_path / "model", seed=0)
    (tmp_path / "in.txt").write_text("a red cat\n")
    out = tmp_path / "run"
    assert scan(model, out, tmp_path / "in.txt") == 0
    weights = model / "text_encoder" / "model.safetensors"
    spans = tensor_spans(weights)
    start, end = spans[sorted(spans)[len(spans) // 2]]  # one tensor mid-file, as a text-encoder fine-tune changes it
    scaled = (np.frombuffer(weights.read_bytes()[start:end], dtype=np.float32) * 1.01 + 1e-3).astype(np.float32)
    rewrite_keeping_mtime(weights, start, scaled.tobytes())
    assert scan(model, out, tmp_path / "in.txt") == 2
    assert "model_fingerprint" in capsys.readouterr().err


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


def test_a_dropped_input_or_new_unit_rows_leaves_a_folder_that_check_passes(local_ray, tiny_eps, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a red cat\na blue dog\nan old tree\n")
    b.write_text("a green kite\n")
    out = tmp_path / "run"
    assert scan(tiny_eps, out, a, b, extra=["--top-k", "1"]) == 0
    assert scan(tiny_eps, out, a, extra=["--top-k", "1"]) == 0  # b dropped: its unit is no longer part of the scan
    assert main(["check", str(out), "--max-flagged", "1"]) == 0
    assert scan(tiny_eps, out, a, extra=["--top-k", "1", "--unit-rows", "1"]) == 0  # three units of a instead of one
    assert main(["check", str(out), "--max-flagged", "1"]) == 0
    assert len(list((out / "done").iterdir())) == len(list((out / "scores").iterdir())) == 3


def test_an_unreadable_folder_is_a_failed_input_and_hidden_ones_are_never_entered(local_ray, tiny_eps, tmp_path):
    data = tmp_path / "data"
    for name in ("a.txt", "locked/b.txt", ".cache/c.txt"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("a red cat\na blue dog\n")
    for name in ("locked", ".cache"):
        (data / name).chmod(0)
    try:
        with permissions_enforced():  # as a user, not root, would scan it
            assert scan(tiny_eps, tmp_path / "run", data) == 3
    finally:
        for name in ("locked", ".cache"):
            (data / name).chmod(0o755)
    summary = summary_of(tmp_path / "run")
    assert [(f["source"], f["reason"]) for f in summary["shards"]["failed"]] == [
        (str(data / "locked"), f"InputError: {data / 'locked'}: cannot list this folder (Permission denied)")]
    assert summary["rows_read"] == 2 and summary["shards"]["total"] == 2


def test_a_file_name_with_terminal_escapes_is_escaped_in_every_line(local_ray, tiny_eps, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "ok.txt").write_text("a red cat\n")
    (data / "evil\x1b]0;pwned\x07\x1b[2J.tar").write_bytes(b"not a tar")  # sets the title, clears the screen
    assert scan(tiny_eps, tmp_path / "run", data) == 3
    err = capsys.readouterr().err
    assert "exit 3:   partial: 1 of 2 shards failed: " in err and "evil\\x1b]0;pwned\\x07\\x1b[2J.tar" in err
    assert "\x1b" not in err and "\x07" not in err
    assert summary_of(tmp_path / "run")["pool"]["in_driver"]  # the tar's size bounds its rows: a small scan


def test_the_lock_is_held_to_the_end_of_scan_mitigate_and_a_reused_pid_does_not_hold_it(local_ray, tiny_eps, tmp_path,
                                                                                        monkeypatch):
    (tmp_path / "in.txt").write_text("a red cat\n")
    out, held = tmp_path / "run", []

    def noting_the_lock(real):
        def call(*args, **kwargs):
            held.append(json.loads((out / "run.lock").read_text())["command"])
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(run_module, "write_html_report", noting_the_lock(run_module.write_html_report))
    monkeypatch.setattr(scan_cli, "mitigate_run", noting_the_lock(scan_cli.mitigate_run))
    assert scan(tiny_eps, out, tmp_path / "in.txt", extra=["--threshold", "0", "--mitigate", "--max-steps", "1",
                                                         "--max-edits", "1"]) == 0
    assert held == ["scan --mitigate", "scan --mitigate"] and not (out / "run.lock").exists()
    owner = subprocess.Popen(["sleep", "60"])  # alive, but not the process that took the lock under its id
    try:
        (out / "run.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": owner.pid, "started": "1",
                                                  "command": "scan", "since": "then"}))
        assert scan(tiny_eps, out, tmp_path / "in.txt", extra=["--threshold", "0"]) == 0
    finally:
        owner.kill()
        owner.wait()
