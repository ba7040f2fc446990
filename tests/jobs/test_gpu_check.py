"""jobs/gpu_check.py runs end to end on the CPU (tiny architecture, tiny sizes), so it cannot rot before a GPU run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_prints_one_json_line_on_cpu(tmp_path):
    env = os.environ | {"PYTHONPATH": str(REPO), "AUDIT_TORCH_THREADS": "1"}
    done = subprocess.run([sys.executable, "jobs/gpu_check.py", "--device", "cpu", "--arch", "tiny",
                           "--engine-captions", "32", "--scan-captions", "200", "--files", "2", "--no-compile",
                           "--work", str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert (result["device"], result["dtype"], result["batch_size"], result["scan_rows"]) == ("cpu", "float32", 32, 200)
    assert result["engine_captions_per_s"] > 0 and result["scan_captions_per_s"] > 0
    steady = result["scan_steady_captions_per_s"] or result["scan_captions_per_s"]
    assert result["scan_vs_engine"] == pytest.approx(steady / result["engine_captions_per_s"], rel=1e-2)
    assert result["gpu_samples"] == 0 or result["gpu_util_mean"] is not None
    assert (tmp_path / "model" / "model_index.json").is_file() and len(list((tmp_path / "run" / "done").iterdir())) == 2
