"""SD3 end to end: `score`, a Ray `scan --mitigate` with dataset-wide dedup (keys over all three tokenizers), its
resume and report, `evaluate`, and `scan --plan` (the transformer's FLOPs), on a tiny random SD3 folder."""
from __future__ import annotations

import json
import logging

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from builders import caption

from audit.cli.main import main
from audit.model.flops import unet_flops
from audit.model.loader import load_model
from audit.reports.parquet import read_metadata
from audit.scoring.engine import ScoreConfig, Scorer

# "A red cat" and "a red cat": the same CLIP ids (CLIP lowercases), different T5 ids: two keys, two scores
CAPTIONS = [caption(i % 12) for i in range(30)] + ["A red cat", "a red cat", "a red cat", ""]


def test_score_scan_resume_report_and_plan(local_ray, tiny_sd3, tmp_path, caplog, capsys, monkeypatch):
    monkeypatch.setattr("audit.scoring.profiles._warned", set())  # the session's tiny_sd3 may have warned already
    expected = Scorer(load_model(str(tiny_sd3), device="cpu"), ScoreConfig()).score(CAPTIONS)
    assert expected["norm"][-4] != expected["norm"][-3]
    (tmp_path / "in.txt").write_text("\n".join(CAPTIONS) + "\n")
    out = tmp_path / "scored.parquet"
    with caplog.at_level(logging.WARNING):
        assert main(["score", "-i", str(tmp_path / "in.txt"), "-o", str(out), "--model", str(tiny_sd3)]) == 0
    assert "UNCALIBRATED" in caplog.text and "SD3 models" in caplog.text
    scored = pd.read_parquet(out).sort_values("row_id", ignore_index=True)
    ok = scored["status"].eq("ok")
    assert scored.loc[ok, "norm"].tolist() == [n for n, c in zip(expected["norm"], CAPTIONS) if c]
    meta = read_metadata(out)
    assert (meta["prediction_type"], meta["t_hi"], meta["profile"]["name"]) == ("flow", 1000.0, "sd3")

    pq.write_table(pa.table({"TEXT": CAPTIONS}), tmp_path / "in.parquet", row_group_size=10)
    run = tmp_path / "run"
    top = sorted(set(expected["norm"]))
    threshold = (top[-3] + top[-2]) / 2  # the sd3 profile's score is the norm: two distinct captions flagged
    scan = ["scan", str(tmp_path / "in.parquet"), "-o", str(run), "--model", str(tiny_sd3), "--unit-rows", "10",
            "--threshold", str(threshold), "--mitigate", "--max-steps", "3", "--attribution", "gradient"]
    assert main([*scan, "--small-scan-rows", "0"]) == 0  # the Ray Data steps
    mitigations = pd.read_parquet(run / "mitigations.parquet")
    flagged = [c for c, n in zip(CAPTIONS, expected["norm"]) if n > threshold]
    assert sorted(mitigations["caption"]) == sorted(flagged) and len(set(flagged)) == 2 and (mitigations["status"] == "ok").all()
    assert (mitigations["embedding_score"] < mitigations["original_score"]).all()
    report = pd.read_parquet(run / "report").sort_values("row_id", ignore_index=True)
    pd.testing.assert_series_equal(report["norm"], scored["norm"], check_exact=False, rtol=1e-6, atol=0)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dedup"]["distinct_keys"] == 12 + 2  # "A red cat" and "a red cat" differ only in T5's ids
    assert (run / "report.html").is_file()
    assert main(scan) == 0  # a finished run resumes (here in the driver): nothing is scored again
    assert json.loads((run / "summary.json").read_text())["dedup"]["keys_scored_this_run"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(run / "report").sort_values("row_id", ignore_index=True), report)

    (tmp_path / "mem.txt").write_text("\n".join(CAPTIONS[:6]) + "\n")
    (tmp_path / "clean.txt").write_text("\n".join(CAPTIONS[6:12]) + "\n")
    assert main(["evaluate", "--memorized", str(tmp_path / "mem.txt"), "--clean", str(tmp_path / "clean.txt"),
                 "--model", str(tiny_sd3), "-o", str(tmp_path / "eval")]) == 0
    results = json.loads((tmp_path / "eval" / "evaluation.json").read_text())["results"]
    assert {"norm alone", "cosine alone"} <= {k.split(" (")[0] for k in results}

    capsys.readouterr()
    assert main(["scan", str(tmp_path / "in.parquet"), "--model", str(tiny_sd3), "--plan", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["flops_per_caption"] == 2 * unet_flops(str(tiny_sd3)) and plan["dedup"]["sample_distinct"] == 14
