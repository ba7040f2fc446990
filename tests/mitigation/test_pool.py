"""`scan --mitigate` on the canary: flagged rows go to a second actor pool; results land in the run folder."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.model.loader import DEFAULT_MODEL

CANARY = Path(DEFAULT_MODEL)


@pytest.mark.slow
def test_scan_with_mitigation_writes_results_for_flagged_rows_only(tmp_path):
    memorized = (CANARY / "labels/memorized.txt").read_text().splitlines()[:6]
    clean = (CANARY / "labels/clean.txt").read_text().splitlines()[:14]
    pq.write_table(pa.table({"key": [f"k{i}" for i in range(20)], "caption": memorized + clean}),
                   tmp_path / "in.parquet")
    run = tmp_path / "run"
    env = {"HF_HUB_OFFLINE": "1", "AUDIT_TORCH_THREADS": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "audit", "scan", str(tmp_path / "in.parquet"), "-o", str(run),
                             "--mitigate", "--max-steps", "30", "--attribution", "gradient"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    flagged = pd.read_parquet(run / "flagged.parquet")
    out = pd.read_parquet(run / "mitigations.parquet")
    assert sorted(out["row_id"]) == sorted(flagged["row_id"]) and len(out) >= 5
    assert set(out["caption"]) <= set(memorized)  # clean captions under the threshold are left alone
    assert (out["status"] == "ok").all()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["mitigation"]["flagged"] == len(flagged) and summary["mitigation"]["ok"] == len(out)
    assert summary["mitigation"]["embedding_under_threshold"] >= 0.95 * len(out)
    assert summary["mitigation"]["attribution"] == "gradient"
    for caption, triggers in zip(out["caption"], out["trigger_tokens"]):
        assert [t["token"] for t in triggers] == caption.split() and any(t["contribution"] != 0 for t in triggers)
    assert all((run / "embeddings" / f"{r}.safetensors").is_file() for r in out["row_id"])
    assert "embedding" in (run / "report.html").read_text()
