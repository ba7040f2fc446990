"""`scan` as a user runs it: exit code and one-line reason for inputs with nothing to score, a report.html every
time, and a console of our own lines only (Ray's output in logs/scan.log)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from audit.cli.main import main
from audit.cli.outcome import EXIT_NOTHING_SCORED, EXIT_OK
from audit.pipeline.dedup import local

RAY_NOISE = ("core_worker", "Token authentication", "Started a local Ray", "streaming_executor", "INFO", "Traceback")


def scan_cli(address: str | None, model, inputs, out, *extra, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m audit scan` in a new process, as a terminal-less user runs it: joined to the test's Ray at
    `address`, or (None) a small scan on this machine alone."""
    joined = ["--address", address] if address else []
    environment = {k: v for k, v in os.environ.items() if address or k != "RAY_ADDRESS"}
    return subprocess.run([sys.executable, "-m", "audit", "scan", *map(str, inputs), "-o", str(out), "--model",
                           str(model), "--batch-size", "8", *joined, *map(str, extra)],
                          capture_output=True, text=True, timeout=300,
                          env=environment | {"AUDIT_TORCH_THREADS": "1"} | (env or {}))


@pytest.mark.parametrize("case, code, reason, on_ray", [
    ("empty", EXIT_NOTHING_SCORED, "nothing scored: the inputs have no rows", False),
    ("unscorable", EXIT_NOTHING_SCORED, "nothing scored: no row of 2 could be scored (empty 2)", False),
    ("none flagged", EXIT_OK, "complete", True),
])
def test_exit_code_reason_and_report(local_ray, tiny_eps, tmp_path, case, code, reason, on_ray):
    given = tmp_path / "in.txt"
    given.write_text({"empty": "", "unscorable": "\n   \n", "none flagged": "a red cat\na blue dog\n"}[case])
    out = tmp_path / "run"
    fresh = {"MPLCONFIGDIR": str(tmp_path / "matplotlib")}  # a first run: matplotlib builds its font cache
    start = time.time()
    done = scan_cli(local_ray if on_ray else None, tiny_eps, [given], out, "--threshold", "1e9", env=fresh)
    lines = done.stderr.splitlines()
    assert done.returncode == code, done.stderr
    assert [line for line in lines if line.startswith("exit ")] == [f"exit {code}:   " + reason]
    assert lines[-1] == f"report:   {out}/report.html" and (out / "report.html").stat().st_size > 1000
    assert done.stdout == "" and not any(noise in done.stderr for noise in RAY_NOISE)
    # a progress line per step (3), counts, (speed), time, (dedup), (pool), exit, log, folder, report
    assert len(lines) <= 12, lines
    phases = next(line for line in lines if line.startswith("time:     ")).removeprefix("time:     ").split(", ")
    names, last = [p.rsplit(" ", 2)[0] for p in phases], ["ranking", "reports"] + (["stopping Ray"] if on_ray else [])
    assert names[0] == "start-up" and names[-len(last):] == last
    timing = json.loads((out / "summary.json").read_text())["timing"]  # the phases add up to the process's time
    assert abs(sum(timing["phases"].values()) - timing["wall_seconds"]) <= 0.01 * timing["wall_seconds"]
    # from the process's start to its summary (written last): not the final block and the interpreter's exit after it
    to_summary = (out / "summary.json").stat().st_mtime - start
    assert abs(timing["wall_seconds"] - to_summary) <= 0.05 * to_summary + 1.0, (timing, to_summary)
    log = (out / "logs" / "scan.log").read_text()
    assert "Started a local Ray" not in log  # it joined the test's Ray, or started none
    assert "fontManager" not in done.stderr and "generated new fontManager" in log
    if case == "none flagged":
        assert "0 flagged" in done.stderr and "No rows were flagged." in (out / "report.html").read_text()
        progress = [line.split(" rows/s, ETA ")[0].rsplit(", ", 1)[0] for line in lines if " rows/s, ETA " in line]
        assert progress == ["reading and keying: 1 of 1 units, 2 of ~2 rows", "scoring distinct captions: 2 of ~2 rows",
                            "joining: 1 of 1 units, 2 of ~2 rows"]  # one line per step, with the planned rows
        assert "dedup:    2 distinct caption keys among 2 scorable rows, 0 duplicates: 0.0% of scoring saved" in done.stderr
        assert "pool:     at most 1 actor at once on 1 node (elastic pool of up to 1)" in lines


def test_report_parquet_keeps_integer_and_boolean_types(tiny_eps, tmp_path):
    given = tmp_path / "in.txt"
    given.write_text("a red cat\n\n" + "a very long caption " * 30 + "\n")
    assert main(["scan", str(given), "-o", str(tmp_path / "run"), "--model", str(tiny_eps), "--top-k", "1"]) == EXIT_OK
    for frame in (pd.read_parquet(tmp_path / "run" / "report"), pd.read_parquet(tmp_path / "run" / "flagged.parquet")):
        assert {c: str(frame[c].dtype) for c in ("rank", "n_tokens", "truncated", "row_id", "flagged")} == \
            {"rank": "Int64", "n_tokens": "Int64", "truncated": "boolean", "row_id": "int64", "flagged": "bool"}
    report = pd.read_parquet(tmp_path / "run" / "report").set_index("row_id").sort_index()
    assert report["status"].tolist() == ["ok", "empty", "ok"]
    assert report["rank"].isna().tolist() == [False, True, False] and sorted(report["rank"].dropna()) == [1, 2]
    assert report["truncated"].tolist()[::2] == [False, True] and pd.isna(report["truncated"].iloc[1])
    assert report["n_tokens"].iloc[2] > 77 and pd.isna(report["n_tokens"].iloc[1])


def test_help_documents_every_exit_code(capsys):
    with pytest.raises(SystemExit):
        main(["scan", "--help"])
    text = capsys.readouterr().out
    assert all(f"  {code} " in text or f"codes: {code} " in text for code in range(6)) and "logs/scan.log" in text


def test_a_small_scan_on_this_machine_alone_starts_no_ray(tiny_eps, tmp_path):
    given = tmp_path / "in.txt"
    given.write_text("a red cat\na blue dog\na red cat\n")
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"AUDIT_TORCH_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "audit", "scan", str(given), "-o", str(out), "--model", str(tiny_eps),
                           "--top-k", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == EXIT_OK, done.stderr
    lines = done.stderr.splitlines()
    assert "pool:     none: a small scan on this machine alone, scored in this process (Ray not started)" in lines
    assert f"log:      {out}/logs/scan.log" in lines and not any(line.startswith("Ray log:") for line in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pool"]["in_driver"] and summary["pool"]["actors_seen"] == 1 and summary["dedup"]["steps_in_driver"]
    assert "stopping Ray" not in summary["timing"]["phases"] and summary["dedup"]["distinct_keys"] == 2
    assert "Ray" not in (out / "logs" / "scan.log").read_text()  # neither started nor joined
    assert pd.read_parquet(out / "report").sort_values("row_id")["dup_count"].tolist() == [2, 1, 2]


def test_a_scan_that_loads_its_model_here_imports_nothing_beside_it(local_ray, tiny_eps, tmp_path, monkeypatch):
    """The tokenizers' background import is for a driver that waits on an actor: beside this process's own model
    loading, transformers' lazy imports race (seen: "text_encoder class 'CLIPTextModel' is not in transformers")."""
    started = []
    monkeypatch.setattr(local, "import_tokenizers_meanwhile", lambda: started.append(True))
    given = tmp_path / "in.txt"
    given.write_text("a red cat\na blue dog\n")
    assert main(["scan", str(given), "-o", str(tmp_path / "run"), "--model", str(tiny_eps), "--top-k", "1"]) == EXIT_OK
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["pool"]["in_driver"] and started == []
