"""`score`, `scan --mitigate` with its report, and `evaluate` on the SD3 (flow) canary, through the command line."""
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.torch import load_file

from audit.cli.main import main
from audit.model.families import T5_TOKENS
from audit.model.loader import DEFAULT_MODEL
from audit.reports.parquet import read_metadata
from audit.scoring.profiles import load_profile
from tests.clean_cli import run_cli

CANARY_SD3 = Path(DEFAULT_MODEL).parent / "canary_sd3"
PROFILE = load_profile(CANARY_SD3 / "audit_profile.json")
MEMORIZED = (CANARY_SD3 / "labels/memorized.txt").read_text().splitlines()
CLEAN = (CANARY_SD3 / "labels/clean.txt").read_text().splitlines()


def test_score_on_the_sd3_canary_ranks_its_memorized_captions_first(tmp_path):
    captions = MEMORIZED[:5] + CLEAN[:15] + [""]
    (tmp_path / "in.txt").write_text("\n".join(captions) + "\n")
    out = tmp_path / "out.parquet"
    assert main(["score", "-i", str(tmp_path / "in.txt"), "-o", str(out), "--model", str(CANARY_SD3)]) == 0
    report = pd.read_parquet(out)
    assert (report["status"] == "ok").sum() == 20
    assert set(report.sort_values("rank")["caption"].head(5)) == set(MEMORIZED[:5])
    meta = read_metadata(out)
    assert meta["prediction_type"] == "flow" and meta["profile"]["name"] == "sd3"
    assert meta["threshold"] == PROFILE.threshold


def test_scan_with_mitigation_and_report_on_the_sd3_canary(tmp_path):
    captions = MEMORIZED[:3] + CLEAN[:9]
    pq.write_table(pa.table({"key": [f"k{i}" for i in range(12)], "caption": captions}), tmp_path / "in.parquet")
    run = tmp_path / "run"
    result = run_cli(["scan", tmp_path / "in.parquet", "-o", run, "--model", CANARY_SD3, "--mitigate", "--max-steps", "10",
                      "--attribution", "gradient"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "UNCALIBRATED" not in result.stdout + result.stderr  # the canary ships its calibrated profile
    flagged = pd.read_parquet(run / "flagged.parquet")
    assert set(flagged["caption"]) == set(MEMORIZED[:3])  # the calibrated threshold flags exactly these
    out = pd.read_parquet(run / "mitigations.parquet")
    assert (out["status"] == "ok").all() and out["row_id"].tolist() == flagged["row_id"].tolist()
    assert (out["embedding_score"] < out["original_score"]).all()
    saved = load_file(run / out["embedding_file"].iloc[0])
    limit = json.loads((CANARY_SD3 / "tokenizer/tokenizer_config.json").read_text())["model_max_length"]
    assert saved["prompt_embeds"].shape == (1, limit + T5_TOKENS, 64) and saved["pooled_prompt_embeds"].shape == (1, 64)
    assert json.loads((run / "summary.json").read_text())["score_parameters"]["profile"]["name"] == "sd3"
    assert "embedding" in (run / "report.html").read_text()
