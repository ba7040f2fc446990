"""`score` and `scan --mitigate` (with its report) on the SDXL canary, end to end through the command line."""
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors.torch import load_file

from audit.cli.main import main
from audit.model.fingerprint import fingerprint
from audit.model.loader import DEFAULT_MODEL
from audit.reports.parquet import read_metadata
from audit.scoring.profiles import load_profile
from tests.clean_cli import run_cli

CANARY_SDXL = Path(DEFAULT_MODEL).parent / "canary_sdxl"
PROFILE = load_profile(CANARY_SDXL / "audit_profile.json")
MEMORIZED = (CANARY_SDXL / "labels/memorized.txt").read_text().splitlines()
CLEAN = (CANARY_SDXL / "labels/clean.txt").read_text().splitlines()


def test_score_on_the_sdxl_canary(tmp_path):
    captions = MEMORIZED[:5] + CLEAN[:15] + ["", "word " * 100]
    (tmp_path / "in.txt").write_text("\n".join(captions) + "\n")
    out = tmp_path / "out.parquet"
    assert main(["score", "-i", str(tmp_path / "in.txt"), "-o", str(out), "--model", str(CANARY_SDXL)]) == 0
    report = pd.read_parquet(out).sort_values("row_id").reset_index(drop=True)
    assert report["status"].tolist()[:20] == ["ok"] * 20 and report.loc[21, "truncated"]
    from transformers import AutoTokenizer

    counts = [len(AutoTokenizer.from_pretrained(CANARY_SDXL / t)("word " * 100).input_ids) for t in ("tokenizer", "tokenizer_2")]
    assert report.loc[21, "n_tokens"] == max(counts) > 77
    top = report.sort_values("rank").head(5)
    assert set(top["caption"]) == set(MEMORIZED[:5])  # the memorized captions rank first
    meta = read_metadata(out)
    assert meta["profile"]["name"] == "sdxl" and meta["threshold"] == PROFILE.threshold
    assert meta["model_fingerprint"] == fingerprint(CANARY_SDXL)


@pytest.mark.slow
def test_scan_with_mitigation_and_report_on_the_sdxl_canary(tmp_path):
    captions = MEMORIZED[:5] + CLEAN[:15]
    pq.write_table(pa.table({"key": [f"k{i}" for i in range(20)], "caption": captions}), tmp_path / "in.parquet")
    run = tmp_path / "run"
    result = run_cli(["scan", tmp_path / "in.parquet", "-o", run, "--model", CANARY_SDXL, "--mitigate", "--max-steps", "30",
                      "--attribution", "gradient"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "UNCALIBRATED" not in result.stdout + result.stderr  # the canary ships its calibrated profile
    report = pd.read_parquet(run / "report")
    assert len(report) == 20 and (report["status"] == "ok").all()
    assert set(report.sort_values("rank")["caption"].head(5)) == set(MEMORIZED[:5])
    flagged = pd.read_parquet(run / "flagged.parquet")
    assert set(flagged["caption"]) == set(MEMORIZED[:5])  # the calibrated threshold flags exactly these
    out = pd.read_parquet(run / "mitigations.parquet")
    assert (out["status"] == "ok").all() and out["row_id"].tolist() == flagged["row_id"].tolist()
    assert (out["embedding_score"] < out["original_score"]).all()
    for caption, triggers in zip(out["caption"], out["trigger_tokens"]):
        assert [t["token"] for t in triggers] == caption.split() and any(t["contribution"] != 0 for t in triggers)
    saved = load_file(run / out["embedding_file"].iloc[0])
    assert saved["prompt_embeds"].shape == (1, 77, 64) and saved["pooled_prompt_embeds"].shape == (1, 32)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["score_parameters"]["profile"]["name"] == "sdxl"
    assert summary["score_parameters"]["model_fingerprint"] == fingerprint(CANARY_SDXL)
    assert "embedding" in (run / "report.html").read_text()


@pytest.mark.slow
def test_scan_of_an_uncalibrated_sdxl_model_warns_once_on_the_console(tiny_sdxl, tmp_path):
    (tmp_path / "in.txt").write_text("one caption\nanother caption\n")
    # on Ray (--actors): the driver warns; the actor that loads the model must not repeat it on the console
    result = run_cli(["scan", tmp_path / "in.txt", "-o", tmp_path / "run", "--model", tiny_sdxl, "--actors", "1"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    assert console.count("UNCALIBRATED") == 1 and "memaudit evaluate --model" in console
    assert json.loads((tmp_path / "run/summary.json").read_text())["score_parameters"]["profile"]["name"] == "sdxl"
