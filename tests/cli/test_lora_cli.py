"""`--lora` end to end: `scan --mitigate` and `evaluate` with the LoRA canary on the canary, the adapter named in
run.json, the report's metadata, summary.json and report.html, and a resume with another scale refused."""
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from audit.model.fingerprint import content_digest, fingerprint
from audit.model.loader import DEFAULT_MODEL
from audit.reports.parquet import read_metadata
from tests.clean_cli import run_cli

LORA_CANARY = Path(DEFAULT_MODEL).parent / "canary_lora"
LORA = LORA_CANARY / "pytorch_lora_weights.safetensors"
MEMORIZED = (LORA_CANARY / "labels/memorized.txt").read_text().splitlines()
CLEAN = (LORA_CANARY / "labels/clean.txt").read_text().splitlines()


def test_scan_mitigate_with_lora_names_the_adapter_and_refuses_another_scale(tmp_path):
    captions = MEMORIZED[:5] + CLEAN[:15]
    pq.write_table(pa.table({"caption": captions}), tmp_path / "in.parquet")
    run = tmp_path / "run"
    result = run_cli(["scan", tmp_path / "in.parquet", "-o", run, "--lora", f"{LORA}:0.9", "--mitigate",
                      "--max-steps", "5"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    adapter = {"path": str(LORA), "scale": 0.9, "sha256": content_digest(LORA)}
    meta = read_metadata(next((run / "report").glob("*.parquet")))
    summary = json.loads((run / "summary.json").read_text())
    stored = json.loads((run / "run.json").read_text())
    for params in (meta, summary["score_parameters"], stored):
        assert params["adapters"] == [adapter] and params["model_fingerprint"] != fingerprint(DEFAULT_MODEL)
    assert "LoRA 1" in (run / "report.html").read_text() and content_digest(LORA) in (run / "report.html").read_text()
    report = pd.read_parquet(run / "report")
    memorized = report["caption"].isin(MEMORIZED[:5])
    assert report.loc[memorized, "rank"].max() <= 7  # the adapter's memorized captions rank at the top
    flagged = pd.read_parquet(run / "flagged.parquet")
    assert len(flagged) and set(flagged["caption"]) <= set(MEMORIZED[:5])
    mitigations = pd.read_parquet(run / "mitigations.parquet")
    assert (mitigations["status"] == "ok").all() and mitigations["row_id"].tolist() == flagged["row_id"].tolist()
    again = run_cli(["scan", tmp_path / "in.parquet", "-o", run, "--lora", f"{LORA}:0.5"], tmp_path)
    assert again.returncode == 2 and "other score parameters" in again.stderr and "0.5" in again.stderr


def test_evaluate_with_lora(tmp_path):
    (tmp_path / "mem.txt").write_text("\n".join(MEMORIZED[:20]) + "\n")
    (tmp_path / "clean.txt").write_text("\n".join(CLEAN[:60]) + "\n")
    result = run_cli(["evaluate", "--memorized", tmp_path / "mem.txt", "--clean", tmp_path / "clean.txt",
                      "-o", tmp_path / "eval", "--lora", LORA], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert evaluation["score_parameters"]["adapters"][0]["sha256"] == content_digest(LORA)
    assert json.loads((tmp_path / "eval" / "profile.json").read_text())["name"].endswith("pytorch_lora_weights.safetensors:1")
